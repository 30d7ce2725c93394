"""The review queues: sites to review, people who may be one person, and data-quality flags.

- Sites: the directory by kind (provisional sites are the ones a dose named before anyone
  listed them), with their review status.
- Possible duplicates: people not merged away with the same name (case, spacing and
  diacritics ignored) and the same birth date.
- Flags, from the ledger's series rules: a reported dose number that is not the computed one,
  an interval below the catalog's minimum, a dose before the birth date (possible after a
  birth date is corrected).
- Flags from the feeds: a dose a feed booked with warnings ("feed-warning": where in the
  sender's terms and why, never a value). A void clears it; so does the sender's amendment of
  the record without those warnings (a feed's amendment restates the whole record, warnings
  too); any other amendment leaves it, since what the sender was warned of (a field the ledger
  does not hold, such as an unredacted name or a missing facility type) is theirs to fix.
- A flag an official resolved (`FlagResolved`) is listed no more while the resolution holds:
  for the dose as it was, and the flag as it said (ledger.flags).

Every list reads in pages by a key of ids, never of names: sites by site id, flags by (person
id, dose id, kind), duplicate groups by name and birth date after a person's id whose group the
view looks up (`after`, `limit`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from eventsourcing.persistence import Tracking

from ledger.errors import InvalidValue
from ledger.flags import FLAG_KINDS, feed_flags, unresolved
from ledger.names import person_key
from ledger.person import ERASED_NAME
from ledger.site import KINDS
from projections.engine.paging import PagedProjection, streams
from projections.engine.statements import Sql
from projections.engine.tables import Tables
from projections.records import (
    FLAG_EVENTS,
    PERSON_EVENTS,
    SITE_EVENTS,
    PersonRecord,
    fold_people,
    fold_sites,
    person_ids,
    site_ids,
)

REVIEW_STATUSES = ("pending", "approved", "rejected")


class ReviewView(Tables):
    name = "review"
    tables = {
        "people": "person_id TEXT PRIMARY KEY, record TEXT NOT NULL, full_name TEXT NOT NULL, "
        "name_key TEXT NOT NULL, birth_date TEXT NOT NULL, province TEXT NOT NULL, "
        "district TEXT, merged_into TEXT",
        "flags": "person_id TEXT NOT NULL, dose_id TEXT NOT NULL, kind TEXT NOT NULL, "
        "province TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (person_id, dose_id, kind)",
        "sites": "key TEXT PRIMARY KEY, site_id TEXT NOT NULL UNIQUE, name TEXT, kind TEXT NOT NULL, "
        "province TEXT, district TEXT, review_status TEXT NOT NULL",
    }
    indexes = (("people", "name_key, birth_date"), ("flags", "province, kind"), ("sites", "kind"))
    aside = ("people", "flags", "sites")

    def sites(
        self,
        status: str | None = None,
        provinces: list[str] | None = None,
        *,
        review_status: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """[{site_id, name, province, district, status, review_status}] where status is the kind
        (provisional | official | mobile) and review_status pending | approved | rejected (either
        asked for, or any); by site id, those after `after`, at most `limit`."""
        if status is not None and status not in KINDS:
            raise InvalidValue("status", f"must be one of {', '.join(KINDS)}")
        if review_status is not None and review_status not in REVIEW_STATUSES:
            raise InvalidValue("status", f"must be one of {', '.join(REVIEW_STATUSES)}")
        where, params = (["kind = ?"], [status]) if status else ([], [])
        if review_status is not None:
            where.append("review_status = ?")
            params.append(review_status)
        if after is not None:
            where.append("site_id > ?")
            params.append(after)
        return self._in_provinces(
            "SELECT site_id, name, province, district, kind AS status, review_status FROM {sites}",
            where,
            params,
            provinces,
            "site_id",
            limit,
        )

    def possible_duplicates(
        self,
        provinces: list[str] | None = None,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """[{group_id, name_key, birth_date, people: [{person_id, full_name, birth_date,
        province, district}]}]: groups of two or more people not merged away with the same
        normalised name and birth date, by that name and birth date, those after the group of
        the person `after` (an id, looked up here: a cursor never holds the name), at most
        `limit`. `group_id` is the group's first person's id now.

        The group of a person merged away stays theirs (the row keeps its name and birth date),
        so a walk sees each group once however its people are merged or join it meanwhile; only
        a correction of the name or birth date of the very person a cursor names (or their
        erasure) moves the walk's place. An id the view does not hold: nothing after it.
        Limited to some provinces, a group is listed when one of its people is in them."""
        having: list[str] = ["COUNT(*) > 1"]
        where = "merged_into IS NULL"
        params: list[Any] = []
        if after is not None:
            where += (
                " AND (name_key, birth_date) > "
                "((SELECT name_key FROM {people} WHERE person_id = ?), "
                "(SELECT birth_date FROM {people} WHERE person_id = ?))"
            )
            params.extend([after, after])
        if provinces is not None:
            wanted = sorted(set(provinces))
            if not wanted:
                return []
            having.append(
                f"SUM(CASE WHEN province IN ({', '.join('?' * len(wanted))}) THEN 1 ELSE 0 END) > 0"
            )
            params.extend(wanted)
        tail = ""
        if limit is not None:
            tail = " LIMIT ?"
            params.append(limit)
        with self.reading() as sql:
            rows = sql.rows(
                "SELECT g.group_id, p.name_key, p.birth_date, p.person_id, p.full_name, p.province, p.district "
                "FROM {people} p JOIN (SELECT name_key, birth_date, MIN(person_id) AS group_id "
                f"FROM {{people}} WHERE {where} GROUP BY name_key, birth_date "
                f"HAVING {' AND '.join(having)} ORDER BY name_key, birth_date{tail}) g "
                "ON p.name_key = g.name_key AND p.birth_date = g.birth_date "
                "WHERE p.merged_into IS NULL ORDER BY g.name_key, g.birth_date, p.person_id",
                params,
            )
        groups: dict[str, dict[str, Any]] = {}
        for r in rows:
            group = groups.setdefault(
                r["group_id"],
                {
                    "group_id": r["group_id"],
                    "name_key": r["name_key"],
                    "birth_date": r["birth_date"],
                    "people": [],
                },
            )
            group["people"].append(
                {k: r[k] for k in ("person_id", "full_name", "birth_date", "province", "district")}
            )
        return list(groups.values())

    def merged(self, provinces: list[str] | None = None, *, limit: int = 200) -> list[dict[str, Any]]:
        """[{person_id, merged_into, province}]: the people merged into another and not unmerged
        since (the pairs an unmerge may undo), by the duplicate's id, at most `limit`. Ids and a
        province code only: nothing of a person's details."""
        return self._in_provinces(
            "SELECT person_id, merged_into, province FROM {people}",
            ["merged_into IS NOT NULL"],
            [],
            provinces,
            "person_id",
            limit,
        )

    def flags(
        self,
        kind: str | None = None,
        provinces: list[str] | None = None,
        *,
        after: tuple[str, str, str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """[{person_id, province, kind, dose_id, ...details}]: the data-quality flags no
        resolution holds for, by (person id, dose id, kind), those after `after`, at most `limit`."""
        if kind is not None and kind not in FLAG_KINDS:
            raise InvalidValue("kind", f"must be one of {', '.join(FLAG_KINDS)}")
        where, params = (["kind = ?"], [kind]) if kind else ([], [])
        if after is not None:
            where.append("(person_id > ? OR (person_id = ? AND (dose_id > ? OR (dose_id = ? AND kind > ?))))")
            params.extend([after[0], after[0], after[1], after[1], after[2]])
        rows = self._in_provinces(
            "SELECT person_id, province, detail FROM {flags}",
            where,
            params,
            provinces,
            "person_id, dose_id, kind",
            limit,
        )
        return [
            {"person_id": r["person_id"], "province": r["province"], **orjson.loads(r["detail"])}
            for r in rows
        ]

    def records(self, person_ids: list[str]) -> dict[str, PersonRecord]:
        """The records of these people the view has (details, doses, merged_into), by id."""
        with self.reading() as sql:
            rows = sql.rows_in(
                "SELECT person_id, record FROM {people} WHERE person_id IN ({ids})", person_ids
            )
        return {r["person_id"]: PersonRecord.loads(r["record"]) for r in rows}

    def _in_provinces(
        self,
        select: str,
        where: list[str],
        params: list[Any],
        provinces: list[str] | None,
        order: str,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """`select WHERE where ORDER BY order [LIMIT limit]`, in some provinces (None: all; []: none)."""
        conditions, values = list(where), list(params)
        if provinces is not None:
            wanted = sorted(set(provinces))
            if not wanted:
                return []
            conditions.insert(0, f"province IN ({', '.join('?' * len(wanted))})")
            values[:0] = wanted
        statement = f"{select} WHERE {' AND '.join(conditions) or '1 = 1'} ORDER BY {order}"
        if limit is not None:
            statement += " LIMIT ?"
            values.append(limit)
        with self.reading() as sql:
            return sql.rows(statement, values)

    def load(
        self, person_ids: list[str], site_keys: list[str]
    ) -> tuple[dict[str, PersonRecord], dict[str, dict[str, Any]]]:
        """The records of these people and the entries of these sites (by aggregate id)."""
        with self.reading() as sql:
            people = sql.rows_in(
                "SELECT person_id, record FROM {people} WHERE person_id IN ({ids})", person_ids
            )
            sites = sql.rows_in(
                "SELECT key, site_id, name, kind, province, district, review_status "
                "FROM {sites} WHERE key IN ({ids})",
                site_keys,
            )
        return (
            {r["person_id"]: PersonRecord.loads(r["record"]) for r in people},
            {r["key"]: r for r in sites},
        )

    def save(
        self,
        records: dict[str, PersonRecord],
        sites: dict[str, dict[str, Any]],
        tracking: Tracking,
        after: int | None,
    ) -> None:
        """Store these records (with their flags) and sites; move from `after` to `tracking`."""
        with self.writing(tracking, after) as sql:
            self._write(sql, records, sites)

    def save_rebuilding(self, records: dict[str, PersonRecord], sites: dict[str, dict[str, Any]]) -> None:
        """Store these records (with their flags) and sites in the rebuild's tables."""
        with self.writing_aside() as sql:
            self._write(sql, records, sites)

    @staticmethod
    def _write(sql: Sql, records: dict[str, PersonRecord], sites: dict[str, dict[str, Any]]) -> None:
        people: list[tuple[Any, ...]] = []
        flags: list[tuple[Any, ...]] = []
        for pid, record in records.items():
            d = record.details
            people.append(
                (
                    pid,
                    record.dumps(),
                    ERASED_NAME if record.erased else d["full_name"],
                    # An erased person is no one's duplicate: a key of its own groups it with nobody.
                    f"erased:{pid}" if record.erased else person_key(d["full_name"]),
                    "" if record.erased else d["birth_date"],
                    d["province"],
                    d["district"],
                    record.merged_into,
                )
            )
            if not record.merged:  # a merged person's doses are flagged on the survivor
                raised = (*record.evaluation().flags, *feed_flags(record.doses.values()))
                flags.extend(
                    (pid, f["dose_id"], f["kind"], d["province"], orjson.dumps(f).decode())
                    for f in unresolved(raised, record.doses, record.resolved)
                )
        sql.insert_rows(
            "INSERT INTO {people} (person_id, record, full_name, name_key, birth_date, province, "
            "district, merged_into) VALUES {rows} ON CONFLICT (person_id) "
            "DO UPDATE SET record = excluded.record, full_name = excluded.full_name, "
            "name_key = excluded.name_key, birth_date = excluded.birth_date, "
            "province = excluded.province, district = excluded.district, "
            "merged_into = excluded.merged_into",
            people,
        )
        sql.run_in("DELETE FROM {flags} WHERE person_id IN ({ids})", list(records))
        sql.insert_rows(
            "INSERT INTO {flags} (person_id, dose_id, kind, province, detail) VALUES {rows}", flags
        )
        sql.insert_rows(
            "INSERT INTO {sites} (key, site_id, name, kind, province, district, review_status) "
            "VALUES {rows} ON CONFLICT (key) DO UPDATE SET name = excluded.name, "
            "kind = excluded.kind, province = excluded.province, district = excluded.district, "
            "review_status = excluded.review_status",
            [
                (key, e["site_id"], e["name"], e["kind"], e["province"], e["district"], e["review_status"])
                for key, e in sites.items()
            ],
        )


class Review(PagedProjection[ReviewView]):
    handles = PERSON_EVENTS + FLAG_EVENTS + SITE_EVENTS
    view_class = ReviewView

    def process_page(self, events: list[Any], tracking: Tracking, after: int | None) -> None:
        records, entries = self.view.load(person_ids(events), site_ids(events))
        touched = fold_people(events, records)
        listed = fold_sites(events, entries)
        self.view.save(
            {pid: records[pid] for pid in touched}, {key: entries[key] for key in listed}, tracking, after
        )

    def replay_by_person(
        self, events: Iterable[Any], position: int | None, people_per_write: int = 500
    ) -> None:
        """Rebuild the view from `events` (every event of its topics up to `position`, stream
        after stream) into tables of its own, which then become the view's at `position`."""
        records: dict[str, PersonRecord] = {}
        entries: dict[str, dict[str, Any]] = {}
        with self.rebuilding_aside() as was:
            for stream in streams(events):
                fold_people(stream, records)
                fold_sites(stream, entries)
                if len(records) + len(entries) >= people_per_write:
                    self.view.save_rebuilding(records, entries)
                    records.clear()
                    entries.clear()
            self.view.save_rebuilding(records, entries)
            self.view.finish_rebuilding(position, was)
