"""The statistics projection: doses by date × province × site × vaccine × dose number, people by
status per province, and the site directory by kind.

Every valid dose of a person not merged away counts once, in the bucket of its administered day
(Vietnam time), its computed dose number, its vaccine and its site. **Province: the site's,
when the site is in the directory, else the person's.** Doses are counted where they were
given — a mobile team from one province vaccinating in another counts there — and every dose's
site is in the directory in practice (an unlisted site is listed provisional, in the dose's own
transaction, with the person's province); the person's province covers the moment in between
and any site never listed. A review that moves a site to another province moves its doses.

An amendment moves a dose between buckets, a void removes it (and may renumber the person's
later doses), a merge moves the duplicate's doses to the survivor: each person's doses are
recounted whenever the person changes, and the difference applied to the counts.

So the counts are a function of the people's final records and the directory's final provinces:
a rebuild folds the sites, then each person's stream once, into tables aside, and sums the
counts there in SQL, rather than recounting a person once per page that touches them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.errors import InvalidValue
from ledger.rules import day_of
from ledger.series import Evaluation
from projections.engine.paging import PagedProjection, streams
from projections.engine.statements import Sql
from projections.engine.tables import Tables
from projections.records import (
    PERSON_EVENTS,
    SITE_EVENTS,
    PersonRecord,
    fold_people,
    fold_sites,
    person_ids,
    site_ids,
)

GROUPS = {
    "date": "day",
    "province": "province",
    "site_id": "site_id",
    "vaccine": "vaccine",
    "dose_number": "dose_number",
}  # group_by field → column
DoseKey = tuple[str, str, str, str, int]  # day, province, site_id, vaccine, dose number


def counted_doses(
    record: PersonRecord, site_provinces: dict[str, str], evaluation: Evaluation | None = None
) -> dict[str, DoseKey]:
    """dose id → the bucket it counts in; nothing for a person merged away.

    `evaluation`: the record's, when the caller has it (a rebuild evaluates a person once).
    """
    if record.merged:
        return {}
    home = record.details["province"]
    return {
        n.dose["dose_id"]: (
            day_of(n.dose["administered_at"]).isoformat(),
            site_provinces.get(n.dose["site_id"]) or home,
            n.dose["site_id"],
            n.dose["vaccine"],
            n.number,
        )
        for n in (record.evaluation() if evaluation is None else evaluation).doses
    }


def coverage_key(record: PersonRecord, evaluation: Evaluation | None = None) -> tuple[str, str] | None:
    if record.merged:
        return None
    return record.details["province"], (record.evaluation() if evaluation is None else evaluation).status


@dataclass
class Counted:
    """A person as the view counts them: the record, and the buckets it counts in."""

    record: PersonRecord
    doses: dict[str, DoseKey] = field(default_factory=dict)
    coverage: tuple[str, str] | None = None


@dataclass
class StatisticsChanges:
    people: dict[str, Counted]  # the people recounted, as they count now
    doses: Counter[DoseKey]  # bucket → change in doses
    coverage: Counter[tuple[str, str]]  # (province, status) → change in people
    sites: dict[str, dict[str, Any]]  # directory entries listed or reviewed, by aggregate id


def _group_fields(group_by: list[str]) -> list[str]:
    if isinstance(group_by, str) or not all(isinstance(g, str) for g in group_by):
        raise InvalidValue("group_by", "must be a list of field names")
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown:
        raise InvalidValue("group_by", f"unknown field {unknown[0]!r}; use {', '.join(GROUPS)}")
    if len(set(group_by)) != len(group_by):
        raise InvalidValue("group_by", "names a field twice")
    return list(group_by)


def _day(value: date | str | None, field_name: str) -> str | None:
    if value is None:
        return None
    try:
        return (value if isinstance(value, date) else date.fromisoformat(str(value))).isoformat()
    except ValueError:
        raise InvalidValue(field_name, f"must be a date (YYYY-MM-DD), got {value!r}") from None


class StatisticsView(Tables):
    name = "statistics"
    tables = {
        "people": "person_id TEXT PRIMARY KEY, record TEXT NOT NULL, province TEXT, status TEXT",
        "doses": "person_id TEXT NOT NULL, dose_id TEXT NOT NULL, day TEXT NOT NULL, "
        "province TEXT NOT NULL, site_id TEXT NOT NULL, vaccine TEXT NOT NULL, "
        "dose_number INTEGER NOT NULL, PRIMARY KEY (person_id, dose_id)",
        "dose_counts": "day TEXT NOT NULL, province TEXT NOT NULL, site_id TEXT NOT NULL, "
        "vaccine TEXT NOT NULL, dose_number INTEGER NOT NULL, doses BIGINT NOT NULL, "
        "PRIMARY KEY (day, province, site_id, vaccine, dose_number)",
        "coverage": "province TEXT NOT NULL, status TEXT NOT NULL, people BIGINT NOT NULL, "
        "PRIMARY KEY (province, status)",
        "sites": "key TEXT PRIMARY KEY, site_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, province TEXT",
    }
    indexes = (("doses", "site_id"), ("dose_counts", "province, day"))
    aside = ("people", "doses", "dose_counts", "coverage", "sites")

    # --- queries -------------------------------------------------------------------------------

    def dose_counts(
        self,
        group_by: list[str],
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        provinces: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Doses grouped by any of date (ISO day), province, site_id, vaccine, dose_number:
        [{...the group fields, "doses": n}], ordered by the group fields. `provinces=None`
        means every province; dates are inclusive."""
        fields = _group_fields(group_by)
        columns = "".join(f'{GROUPS[f]} AS "{f}", ' for f in fields)
        where, params = ["doses <> 0"], []
        for bound, op, name in ((date_from, ">=", "date_from"), (date_to, "<=", "date_to")):
            if bound is not None:
                where.append(f"day {op} ?")
                params.append(_day(bound, name))
        grouping = ", ".join(GROUPS[f] for f in fields)
        tail = f" GROUP BY {grouping} ORDER BY {grouping}" if fields else ""
        rows = self._in_provinces(
            f"SELECT {columns}CAST(SUM(doses) AS BIGINT) AS doses FROM {{dose_counts}}",
            " AND ".join(where) + tail,
            params,
            provinces,
        )
        if not fields:  # one total (SUM over no row is NULL)
            return [{"doses": sum(row["doses"] or 0 for row in rows)}]
        return rows

    def coverage(self, provinces: list[str] | None = None) -> list[dict[str, Any]]:
        """People by status per province: [{province, status, people}] (merged-away excluded)."""
        return self._in_provinces(
            "SELECT province, status, people FROM {coverage}",
            "people <> 0 ORDER BY province, status",
            [],
            provinces,
        )

    def site_counts(self, provinces: list[str] | None = None) -> list[dict[str, Any]]:
        """Sites in the directory by kind per province: [{province, kind, sites}]."""
        return self._in_provinces(
            "SELECT province, kind, CAST(COUNT(*) AS BIGINT) AS sites FROM {sites}",
            "1 = 1 GROUP BY province, kind ORDER BY province, kind",
            [],
            provinces,
        )

    def _in_provinces(
        self, select: str, condition: str, params: list[Any], provinces: list[str] | None
    ) -> list[dict[str, Any]]:
        """`select WHERE condition`, limited to some provinces (None: all; []: none)."""
        with self.reading() as sql:
            if provinces is None:
                return sql.rows(f"{select} WHERE {condition}", params)
            return sql.rows_in(
                f"{select} WHERE province IN ({{ids}}) AND {condition}", sorted(set(provinces)), params
            )

    # --- the fold's reads and writes -----------------------------------------------------------

    def load(self, person_ids: list[str]) -> dict[str, Counted]:
        """The people as the view counts them now."""
        with self.reading() as sql:
            people = sql.rows_in(
                "SELECT person_id, record, province, status FROM {people} WHERE person_id IN ({ids})",
                person_ids,
            )
            doses = sql.rows_in(
                "SELECT person_id, dose_id, day, province, site_id, vaccine, dose_number "
                "FROM {doses} WHERE person_id IN ({ids})",
                person_ids,
            )
        counted = {
            r["person_id"]: Counted(
                PersonRecord.loads(r["record"]), {}, (r["province"], r["status"]) if r["status"] else None
            )
            for r in people
        }
        for d in doses:
            counted[d["person_id"]].doses[d["dose_id"]] = (
                d["day"],
                d["province"],
                d["site_id"],
                d["vaccine"],
                d["dose_number"],
            )
        return counted

    def people_at(self, site_ids: list[str]) -> list[str]:
        """Who has a counted dose at any of these sites."""
        with self.reading() as sql:
            rows = sql.rows_in("SELECT DISTINCT person_id FROM {doses} WHERE site_id IN ({ids})", site_ids)
        return sorted({r["person_id"] for r in rows})

    def sites(self, keys: list[str] | None = None, site_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Directory entries by aggregate id or by site id (each with its `key`)."""
        column, values = ("key", keys) if keys is not None else ("site_id", site_ids or [])
        with self.reading() as sql:
            return sql.rows_in(
                f"SELECT key, site_id, kind, province FROM {{sites}} WHERE {column} IN ({{ids}})", values
            )

    def save(self, changes: StatisticsChanges, tracking: Tracking, after: int | None) -> None:
        """Apply the changes and move the view from `after` to `tracking`."""
        with self.writing(tracking, after) as sql:
            self._write(sql, changes.people, changes.sites)
            _add(
                sql,
                "dose_counts",
                ("day", "province", "site_id", "vaccine", "dose_number"),
                "doses",
                changes.doses,
            )
            _add(sql, "coverage", ("province", "status"), "people", changes.coverage)

    def save_rebuilding(self, people: dict[str, Counted], sites: dict[str, dict[str, Any]]) -> None:
        """Store these people, their doses and these directory entries in the rebuild's tables."""
        with self.writing_aside() as sql:
            self._write(sql, people, sites)

    def count_rebuilding(self) -> None:
        """The rebuild's counts, summed from the people and doses in its tables."""
        with self.writing_aside() as sql:
            sql.run(
                "INSERT INTO {dose_counts} (day, province, site_id, vaccine, dose_number, doses) "
                "SELECT day, province, site_id, vaccine, dose_number, COUNT(*) FROM {doses} "
                "GROUP BY day, province, site_id, vaccine, dose_number"
            )
            sql.run(
                "INSERT INTO {coverage} (province, status, people) "
                "SELECT province, status, COUNT(*) FROM {people} WHERE status IS NOT NULL "
                "GROUP BY province, status"
            )

    @staticmethod
    def _write(sql: Sql, people: dict[str, Counted], sites: dict[str, dict[str, Any]]) -> None:
        """The people as they count now (their doses replaced) and the directory entries."""
        sql.insert_rows(
            "INSERT INTO {people} (person_id, record, province, status) VALUES {rows} "
            "ON CONFLICT (person_id) DO UPDATE SET record = excluded.record, "
            "province = excluded.province, status = excluded.status",
            [(pid, c.record.dumps(), *(c.coverage or (None, None))) for pid, c in people.items()],
        )
        sql.run_in("DELETE FROM {doses} WHERE person_id IN ({ids})", list(people))
        sql.insert_rows(
            "INSERT INTO {doses} (person_id, dose_id, day, province, site_id, vaccine, "
            "dose_number) VALUES {rows}",
            [(pid, dose_id, *key) for pid, c in people.items() for dose_id, key in c.doses.items()],
        )
        sql.insert_rows(
            "INSERT INTO {sites} (key, site_id, kind, province) VALUES {rows} "
            "ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, province = excluded.province",
            [(key, e["site_id"], e["kind"], e["province"]) for key, e in sites.items()],
        )


def _add(sql: Any, table: str, key_columns: tuple[str, ...], value: str, deltas: Counter[Any]) -> None:
    """Add each non-zero delta to its row; rows that fall to zero go."""
    changed = [(*key, n) for key, n in sorted(deltas.items()) if n]
    columns = ", ".join(key_columns)
    sql.insert_rows(
        f"INSERT INTO {{{table}}} ({columns}, {value}) VALUES {{rows}} "
        f"ON CONFLICT ({columns}) DO UPDATE SET {value} = {{{table}}}.{value} + excluded.{value}",
        changed,
    )
    match = " AND ".join(f"{c} = ?" for c in key_columns)
    sql.run_many(
        f"DELETE FROM {{{table}}} WHERE {match} AND {value} = 0", [row[:-1] for row in changed if row[-1] < 0]
    )


class Statistics(PagedProjection[StatisticsView]):
    handles = PERSON_EVENTS + SITE_EVENTS
    folded_first = SITE_EVENTS
    view_class = StatisticsView

    def process_page(self, events: list[Any], tracking: Tracking, after: int | None) -> None:
        view = self.view
        counted = view.load(person_ids(events))
        records = {pid: c.record for pid, c in counted.items()}
        touched = fold_people(events, records)

        entries = {e["key"]: e for e in view.sites(keys=site_ids(events))}
        listed = fold_sites(events, entries)
        moved_sites = [entries[key]["site_id"] for key in listed]
        if moved_sites:
            # A site listed or moved: the people with doses there are recounted too.
            extra = [pid for pid in view.people_at(moved_sites) if pid not in records]
            for pid, c in view.load(extra).items():
                counted[pid] = c
                records[pid] = c.record
            touched.update(extra)
            touched.update(
                pid
                for pid, record in records.items()
                if any(d["site_id"] in moved_sites for d in record.doses.values())
            )

        site_provinces = {e["site_id"]: e["province"] for e in entries.values()}
        wanted = {
            d["site_id"] for pid in touched for d in records[pid].doses.values()
        } - site_provinces.keys()
        site_provinces.update({e["site_id"]: e["province"] for e in view.sites(site_ids=sorted(wanted))})

        changes = StatisticsChanges({}, Counter(), Counter(), {key: entries[key] for key in listed})
        for pid in touched:
            before = counted.get(pid) or Counted(records[pid])
            record = records[pid]
            evaluation = None if record.merged else record.evaluation()
            now = Counted(
                record, counted_doses(record, site_provinces, evaluation), coverage_key(record, evaluation)
            )
            changes.doses.update(now.doses.values())
            changes.doses.subtract(before.doses.values())
            if now.coverage:
                changes.coverage[now.coverage] += 1
            if before.coverage:
                changes.coverage[before.coverage] -= 1
            changes.people[pid] = now
        view.save(changes, tracking, after)

    def replay_by_person(
        self, events: Iterable[Any], position: int | None, people_per_write: int = 500
    ) -> None:
        """Rebuild the view from `events`: every event of its topics up to `position`, the
        sites' streams first, then the people's, each stream in version order. Each person is
        counted once, at the end of their stream, in the provinces the directory ends with —
        what recounting them page after page comes to — into tables of the view's own, where
        the counts are summed, and which then become the view's at `position`. Stopped halfway,
        it leaves those tables empty again and the view as it was."""
        view = self.view
        entries: dict[str, dict[str, Any]] = {}
        site_provinces: dict[str, str] | None = None  # known once the people's streams begin
        records: dict[str, PersonRecord] = {}

        def save() -> None:
            assert site_provinces is not None
            people: dict[str, Counted] = {}
            for pid, record in records.items():
                evaluation = None if record.merged else record.evaluation()
                people[pid] = Counted(
                    record,
                    counted_doses(record, site_provinces, evaluation),
                    coverage_key(record, evaluation),
                )
            view.save_rebuilding(people, {})
            records.clear()

        with self.rebuilding_aside() as was:
            for stream in streams(events):
                if type(stream[0]) in SITE_EVENTS:
                    if site_provinces is not None:
                        raise ValueError(
                            "statistics: a site's events came after the people's; the sites are folded first"
                        )
                    fold_sites(stream, entries)
                    continue
                if site_provinces is None:
                    site_provinces = self._listed(entries)
                fold_people(stream, records)
                if len(records) >= people_per_write:
                    save()
            if site_provinces is None:
                site_provinces = self._listed(entries)
            save()
            view.count_rebuilding()
            view.finish_rebuilding(position, was)

    def _listed(self, entries: dict[str, dict[str, Any]]) -> dict[str, str]:
        """The directory, written aside: site id → province."""
        self.view.save_rebuilding({}, entries)
        return {e["site_id"]: e["province"] for e in entries.values()}
