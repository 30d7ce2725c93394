"""The locality lists: people per province and district with their status, and look-ups.

A phone number is a contact detail that families and groups share: looking one up returns
every person with it. A national id is one person's. People merged into another are left
out (the survivor stands for them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventsourcing.persistence import Tracking

from ledger import rules
from ledger.errors import InvalidValue
from ledger.person import ERASED_NAME
from projections.engine.paging import PagedProjection, streams
from projections.engine.statements import Sql
from projections.engine.tables import Tables
from projections.records import PERSON_EVENTS, PersonRecord, fold_people, person_ids

SHOWN = "person_id, full_name, birth_date, province, district, status"
STATUSES = ("none", "partial", "complete", "booster")


class LocalitiesView(Tables):
    name = "localities"
    tables = {
        "people": "person_id TEXT PRIMARY KEY, record TEXT NOT NULL, full_name TEXT NOT NULL, "
        "birth_date TEXT NOT NULL, phone TEXT, national_id TEXT, province TEXT NOT NULL, "
        "district TEXT, status TEXT NOT NULL, merged_into TEXT"
    }
    indexes = (("people", "phone"), ("people", "national_id"), ("people", "province, district, full_name"))
    aside = ("people",)

    def find(
        self, phone: str | None = None, national_id: str | None = None, provinces: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """People with this phone (all of them) or this national id:
        [{person_id, full_name, birth_date, province, district, status}]. `provinces` limits
        the answer to those provinces (None: all)."""
        if (phone is None) == (national_id is None):
            raise InvalidValue("phone", "give a phone or a national_id to look up")
        column, value = (
            ("phone", rules.phone(phone))
            if phone is not None
            else ("national_id", rules.national_id(national_id))
        )
        if value is None:
            raise InvalidValue(column, "is required")
        with self.reading() as sql:
            statement = (
                f"SELECT {SHOWN} FROM {{people}} WHERE {column} = ? AND merged_into IS NULL "
                "{restrict} ORDER BY full_name, person_id"
            )
            if provinces is None:
                return sql.rows(statement.replace("{restrict}", ""), (value,))
            if not provinces:
                return []
            marks = ",".join("?" * len(provinces))
            return sql.rows(
                statement.replace("{restrict}", f"AND province IN ({marks})"), (value, *provinces)
            )

    def people(
        self,
        province: str,
        district: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """The people of a province (and district), by name, a page at a time."""
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidValue("limit", "must be a whole number from 1 to 1000")
        if not isinstance(offset, int) or offset < 0:
            raise InvalidValue("offset", "must be a whole number, 0 or more")
        where, params = self._where(province, district, status)
        with self.reading() as sql:
            return sql.rows(
                f"SELECT {SHOWN} FROM {{people}} WHERE {where} "
                "ORDER BY full_name, person_id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )

    def people_after(
        self,
        province: str,
        district: str | None,
        status: str | None,
        after: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """The people of a province (and district), by district then person id, after the person
        `after` (the id of the last one read: their district is looked up here, so it never
        travels in a cursor): a keyset page, which a walk reads whole however people are added
        meanwhile. Only a change of that very person's district during a walk moves its place.
        An id the view does not hold: nothing after it."""
        where, params = self._where(province, district, status)
        if after is not None:
            where += (
                " AND (COALESCE(district, ''), person_id) > "
                "((SELECT COALESCE(district, '') FROM {people} WHERE person_id = ?), ?)"
            )
            params += [after, after]
        with self.reading() as sql:
            return sql.rows(
                f"SELECT {SHOWN} FROM {{people}} WHERE {where} "
                "ORDER BY COALESCE(district, ''), person_id LIMIT ?",
                (*params, limit),
            )

    def count(self, province: str, district: str | None = None, status: str | None = None) -> int:
        """How many people `people` would list in all."""
        where, params = self._where(province, district, status)
        with self.reading() as sql:
            return int(sql.rows(f"SELECT COUNT(*) AS n FROM {{people}} WHERE {where}", params)[0]["n"])

    @staticmethod
    def _where(province: str, district: str | None, status: str | None) -> tuple[str, list[Any]]:
        where, params = ["province = ?", "merged_into IS NULL"], [rules.province(province)]
        if district is not None:
            where.append("district = ?")
            params.append(district)
        if status is not None:
            if status not in STATUSES:
                raise InvalidValue("status", f"must be one of {', '.join(STATUSES)}")
            where.append("status = ?")
            params.append(status)
        return " AND ".join(where), params

    def load(self, person_ids: list[str]) -> dict[str, PersonRecord]:
        """The records of these people, as far as the view knows them."""
        with self.reading() as sql:
            rows = sql.rows_in(
                "SELECT person_id, record FROM {people} WHERE person_id IN ({ids})", person_ids
            )
        return {r["person_id"]: PersonRecord.loads(r["record"]) for r in rows}

    def save(self, records: dict[str, PersonRecord], tracking: Tracking, after: int | None) -> None:
        """Store these records (and their rows) and move the view from `after` to `tracking`."""
        with self.writing(tracking, after) as sql:
            self._write(sql, records)

    def save_rebuilding(self, records: dict[str, PersonRecord]) -> None:
        """Store these records (and their rows) in the rebuild's table."""
        with self.writing_aside() as sql:
            self._write(sql, records)

    @staticmethod
    def _write(sql: Sql, records: dict[str, PersonRecord]) -> None:
        rows = []
        for pid, record in records.items():
            d = record.details
            rows.append(
                (
                    pid,
                    record.dumps(),
                    # An erased person stays counted in their locality, by id only.
                    ERASED_NAME if record.erased else d["full_name"],
                    "" if record.erased else d["birth_date"],
                    d["phone"],
                    d["national_id"],
                    d["province"],
                    d["district"],
                    record.evaluation().status,
                    record.merged_into,
                )
            )
        sql.insert_rows(
            "INSERT INTO {people} (person_id, record, full_name, birth_date, phone, national_id, "
            "province, district, status, merged_into) VALUES {rows} "
            "ON CONFLICT (person_id) DO UPDATE SET record = excluded.record, "
            "full_name = excluded.full_name, birth_date = excluded.birth_date, "
            "phone = excluded.phone, national_id = excluded.national_id, "
            "province = excluded.province, district = excluded.district, "
            "status = excluded.status, merged_into = excluded.merged_into",
            rows,
        )


class Localities(PagedProjection[LocalitiesView]):
    handles = PERSON_EVENTS
    view_class = LocalitiesView

    def process_page(self, events: list[Any], tracking: Tracking, after: int | None) -> None:
        records = self.view.load(person_ids(events))
        touched = fold_people(events, records)
        self.view.save({pid: records[pid] for pid in touched}, tracking, after)

    def replay_by_person(
        self, events: Iterable[Any], position: int | None, people_per_write: int = 500
    ) -> None:
        """Rebuild the view from `events` (every event of its topics up to `position`, stream
        after stream) into a table of its own, which then becomes the view's at `position`."""
        records: dict[str, PersonRecord] = {}
        with self.rebuilding_aside() as was:
            for stream in streams(events):
                fold_people(stream, records)
                if len(records) >= people_per_write:
                    self.view.save_rebuilding(records)
                    records.clear()
            self.view.save_rebuilding(records)
            self.view.finish_rebuilding(position, was)
