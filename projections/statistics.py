"""The statistics projection: doses by date × province × district × site × vaccine × dose number ×
age band × sex, people by status per province and district (and, counted when asked, age band
today), and the site directory by kind.

Every valid dose of a person not merged away counts once, in the bucket of its administered day
(Vietnam time), its computed dose number, its vaccine and its site. **Province: the site's,
when the site is in the directory, else the person's.** Doses are counted where they were
given — a mobile team from one province vaccinating in another counts there — and every dose's
site is in the directory in practice (an unlisted site is listed provisional, in the dose's own
transaction, with the person's province); the person's province covers the moment in between
and any site never listed. A review that moves a site to another province moves its doses.
**District: the site's with the site's province**, else the person's; a site the directory
gives no district (a provisional site, listed with its first person's province) counts in the
person's district when it is in the person's province, else in none. **Age band: the person's on the dose's day** (`ledger/age_bands.py`), from the
birth date: an erased person's doses count in `unknown` (a rebuild reads no birth date either).
**Sex: the person's** (None unknown; stored as "", as is a district unknown, so that it can be
part of a key).

Coverage counts people by province, district and status as they change. By age band it is
counted when asked, from the people's birth dates, as of the day asked: ages move on every day
without an event, so no count kept as events come could stay right.

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

from ledger.age_bands import age_band, born_by
from ledger.errors import InvalidValue
from ledger.rules import day_of, now_ict
from ledger.series import Evaluation
from projections.engine.migrations import Migration
from projections.engine.paging import PagedProjection, streams
from projections.engine.statements import Sql
from projections.engine.tables import LEDGER, Tables
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
    "district": "district",
    "site_id": "site_id",
    "vaccine": "vaccine",
    "dose_number": "dose_number",
    "age_band": "age_band",
    "sex": "sex",
}  # group_by field → column
COVERAGE_GROUPS = ("province", "district", "age_band")
# A dose's bucket: day, province, district, site_id, vaccine, dose number, age band, sex.
DOSE_COLUMNS = ("day", "province", "district", "site_id", "vaccine", "dose_number", "age_band", "sex")
DoseKey = tuple[str, str, str, str, str, int, str, str]
CoverageKey = tuple[str, str, str]  # province, district, status
Place = tuple[str | None, str | None]  # a listed site's province and district
NO_VALUE = ""  # a district or sex unknown, in a key column


def counted_doses(
    record: PersonRecord, site_places: dict[str, Place], evaluation: Evaluation | None = None
) -> dict[str, DoseKey]:
    """dose id → the bucket it counts in; nothing for a person merged away.

    `evaluation`: the record's, when the caller has it (a rebuild evaluates a person once).
    """
    if record.merged:
        return {}
    details = record.details
    home = (details["province"], details.get("district"))
    counted: dict[str, DoseKey] = {}
    for n in (record.evaluation() if evaluation is None else evaluation).doses:
        day = day_of(n.dose["administered_at"])
        place = site_places.get(n.dose["site_id"])
        province, district = place if place is not None and place[0] else home
        if not district and province == home[0]:
            district = home[1]  # a site without one (a provisional's), in the person's province
        assert province is not None  # a person always has one
        counted[n.dose["dose_id"]] = (
            day.isoformat(),
            province,
            district or NO_VALUE,
            n.dose["site_id"],
            n.dose["vaccine"],
            n.number,
            age_band(details.get("birth_date"), day),
            details.get("sex") or NO_VALUE,
        )
    return counted


def coverage_key(record: PersonRecord, evaluation: Evaluation | None = None) -> CoverageKey | None:
    if record.merged:
        return None
    status = (record.evaluation() if evaluation is None else evaluation).status
    return record.details["province"], record.details.get("district") or NO_VALUE, status


@dataclass
class Counted:
    """A person as the view counts them: the record, and the buckets it counts in."""

    record: PersonRecord
    doses: dict[str, DoseKey] = field(default_factory=dict)
    coverage: CoverageKey | None = None


@dataclass
class StatisticsChanges:
    people: dict[str, Counted]  # the people recounted, as they count now
    doses: Counter[DoseKey]  # bucket → change in doses
    coverage: Counter[CoverageKey]  # (province, district, status) → change in people
    sites: dict[str, dict[str, Any]]  # directory entries listed or reviewed, by aggregate id


def _group_fields(group_by: list[str], groups: Iterable[str] = GROUPS) -> list[str]:
    if isinstance(group_by, str) or not all(isinstance(g, str) for g in group_by):
        raise InvalidValue("group_by", "must be a list of field names")
    unknown = [g for g in group_by if g not in groups]
    if unknown:
        raise InvalidValue("group_by", f"unknown field {unknown[0]!r}; use {', '.join(groups)}")
    if len(set(group_by)) != len(group_by):
        raise InvalidValue("group_by", "names a field twice")
    return list(group_by)


def _unknown_as_none(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the API answers it: a district or sex unknown is None, not the key's ""."""
    for column in ("district", "sex"):
        if row.get(column) == NO_VALUE:
            row[column] = None
    return row


def _day(value: date | str | None, field_name: str) -> str | None:
    if value is None:
        return None
    try:
        return (value if isinstance(value, date) else date.fromisoformat(str(value))).isoformat()
    except ValueError:
        raise InvalidValue(field_name, f"must be a date (YYYY-MM-DD), got {value!r}") from None


def _fold_again(view: Any, sql: Sql) -> None:
    """Migration 2: the tables made again as today's code has them (district, age band and sex
    in the doses' buckets, district in coverage), empty, and the view folded again from the
    start: the new columns come from the people's records, which only a fold fills."""
    for table, _ in view._every_table():
        sql.run(f"DROP TABLE IF EXISTS {view._qualified(table)}")
    for statement in view.view_statements():
        sql.run(statement)
    # The ledger's row only: PostgreSQL's tracking table also holds the library's own row, which
    # marks it as of the one-row-per-application shape.
    sql.run("DELETE FROM {tracking} WHERE application_name = ?", (LEDGER,))


class StatisticsView(Tables):
    name = "statistics"
    tables = {
        "people": "person_id TEXT PRIMARY KEY, record TEXT NOT NULL, province TEXT, district TEXT, "
        "birth_date TEXT, status TEXT",
        "doses": "person_id TEXT NOT NULL, dose_id TEXT NOT NULL, day TEXT NOT NULL, "
        "province TEXT NOT NULL, district TEXT NOT NULL, site_id TEXT NOT NULL, vaccine TEXT NOT NULL, "
        "dose_number INTEGER NOT NULL, age_band TEXT NOT NULL, sex TEXT NOT NULL, "
        "PRIMARY KEY (person_id, dose_id)",
        "dose_counts": "day TEXT NOT NULL, province TEXT NOT NULL, district TEXT NOT NULL, "
        "site_id TEXT NOT NULL, vaccine TEXT NOT NULL, dose_number INTEGER NOT NULL, "
        "age_band TEXT NOT NULL, sex TEXT NOT NULL, doses BIGINT NOT NULL, "
        "PRIMARY KEY (day, province, district, site_id, vaccine, dose_number, age_band, sex)",
        "coverage": "province TEXT NOT NULL, district TEXT NOT NULL, status TEXT NOT NULL, "
        "people BIGINT NOT NULL, PRIMARY KEY (province, district, status)",
        "sites": "key TEXT PRIMARY KEY, site_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, province TEXT, "
        "district TEXT",
    }
    indexes = (("doses", "site_id"), ("dose_counts", "province, day"), ("people", "province, status"))
    aside = ("people", "doses", "dose_counts", "coverage", "sites")
    migrations = (Migration(2, "doses by district, age band and sex: the view folded again", _fold_again),)

    # --- queries -------------------------------------------------------------------------------

    def dose_counts(
        self,
        group_by: list[str],
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        provinces: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Doses grouped by any of date (ISO day), province, district, site_id, vaccine,
        dose_number, age_band, sex: [{...the group fields, "doses": n}], ordered by the group
        fields (a district or sex unknown: None). `provinces=None` means every province; dates
        are inclusive."""
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
        return [_unknown_as_none(row) for row in rows]

    def coverage(
        self,
        provinces: list[str] | None = None,
        group_by: list[str] | None = None,
        today: date | None = None,
    ) -> list[dict[str, Any]]:
        """People by status per province (merged-away excluded), and per district and/or age
        band when `group_by` names them: [{province, [district,] [age_band,] status, people}],
        ordered so. The age band is the one on `today` (default: today, Vietnam time)."""
        fields = _group_fields(["province", *(g for g in group_by or () if g != "province")], COVERAGE_GROUPS)
        if "age_band" not in fields:
            columns = ", ".join([*fields, "status"])
            return [
                _unknown_as_none(row)
                for row in self._in_provinces(
                    f"SELECT {columns}, CAST(SUM(people) AS BIGINT) AS people FROM {{coverage}}",
                    f"people <> 0 GROUP BY {columns} ORDER BY {columns}",
                    [],
                    provinces,
                )
            ]
        # The bands' bounds are dates and names this code makes (never a caller's text): inline.
        band = (
            "CASE WHEN birth_date IS NULL OR birth_date = '' THEN 'unknown' "
            + " ".join(
                f"WHEN birth_date <= '{born}' THEN '{name}'"
                for name, born in born_by(today or now_ict().date())
            )
            + " END"
        )
        shown = [f"{band} AS age_band" if f == "age_band" else f for f in fields]
        grouping = ", ".join([*fields, "status"])
        rows = self._in_provinces(
            f"SELECT {', '.join(shown)}, status, CAST(COUNT(*) AS BIGINT) AS people FROM {{people}}",
            f"status IS NOT NULL GROUP BY {grouping} ORDER BY {grouping}",
            [],
            provinces,
        )
        return [_unknown_as_none(row) for row in rows]

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
                "SELECT person_id, record, province, district, status FROM {people} "
                "WHERE person_id IN ({ids})",
                person_ids,
            )
            doses = sql.rows_in(
                f"SELECT person_id, dose_id, {', '.join(DOSE_COLUMNS)} FROM {{doses}} WHERE person_id IN ({{ids}})",
                person_ids,
            )
        counted = {
            r["person_id"]: Counted(
                PersonRecord.loads(r["record"]),
                {},
                (r["province"], r["district"], r["status"]) if r["status"] else None,
            )
            for r in people
        }
        for d in doses:
            counted[d["person_id"]].doses[d["dose_id"]] = tuple(d[c] for c in DOSE_COLUMNS)
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
                f"SELECT key, site_id, kind, province, district FROM {{sites}} WHERE {column} IN ({{ids}})",
                values,
            )

    def save(self, changes: StatisticsChanges, tracking: Tracking, after: int | None) -> None:
        """Apply the changes and move the view from `after` to `tracking`."""
        with self.writing(tracking, after) as sql:
            self._write(sql, changes.people, changes.sites)
            _add(sql, "dose_counts", DOSE_COLUMNS, "doses", changes.doses)
            _add(sql, "coverage", ("province", "district", "status"), "people", changes.coverage)

    def save_rebuilding(self, people: dict[str, Counted], sites: dict[str, dict[str, Any]]) -> None:
        """Store these people, their doses and these directory entries in the rebuild's tables."""
        with self.writing_aside() as sql:
            self._write(sql, people, sites)

    def count_rebuilding(self) -> None:
        """The rebuild's counts, summed from the people and doses in its tables."""
        with self.writing_aside() as sql:
            columns = ", ".join(DOSE_COLUMNS)
            sql.run(
                f"INSERT INTO {{dose_counts}} ({columns}, doses) "
                f"SELECT {columns}, COUNT(*) FROM {{doses}} GROUP BY {columns}"
            )
            sql.run(
                "INSERT INTO {coverage} (province, district, status, people) "
                "SELECT province, district, status, COUNT(*) FROM {people} WHERE status IS NOT NULL "
                "GROUP BY province, district, status"
            )

    @staticmethod
    def _write(sql: Sql, people: dict[str, Counted], sites: dict[str, dict[str, Any]]) -> None:
        """The people as they count now (their doses replaced) and the directory entries."""
        sql.insert_rows(
            "INSERT INTO {people} (person_id, record, province, district, birth_date, status) VALUES {rows} "
            "ON CONFLICT (person_id) DO UPDATE SET record = excluded.record, "
            "province = excluded.province, district = excluded.district, "
            "birth_date = excluded.birth_date, status = excluded.status",
            [
                (pid, c.record.dumps(), *(c.coverage or (None, None, None))[:2], _birth_date(c), _status(c))
                for pid, c in people.items()
            ],
        )
        sql.run_in("DELETE FROM {doses} WHERE person_id IN ({ids})", list(people))
        sql.insert_rows(
            f"INSERT INTO {{doses}} (person_id, dose_id, {', '.join(DOSE_COLUMNS)}) VALUES {{rows}}",
            [(pid, dose_id, *key) for pid, c in people.items() for dose_id, key in c.doses.items()],
        )
        sql.insert_rows(
            "INSERT INTO {sites} (key, site_id, kind, province, district) VALUES {rows} "
            "ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, province = excluded.province, "
            "district = excluded.district",
            [(key, e["site_id"], e["kind"], e["province"], e.get("district")) for key, e in sites.items()],
        )


def _birth_date(counted: Counted) -> str | None:
    """The birth date coverage by age band counts from: none for a person not counted (merged
    away), nor for one erased (their record holds none)."""
    return counted.record.details.get("birth_date") if counted.coverage else None


def _status(counted: Counted) -> str | None:
    return counted.coverage[2] if counted.coverage else None


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

        site_places = {e["site_id"]: _place(e) for e in entries.values()}
        wanted = {d["site_id"] for pid in touched for d in records[pid].doses.values()} - site_places.keys()
        site_places.update({e["site_id"]: _place(e) for e in view.sites(site_ids=sorted(wanted))})

        changes = StatisticsChanges({}, Counter(), Counter(), {key: entries[key] for key in listed})
        for pid in touched:
            before = counted.get(pid) or Counted(records[pid])
            record = records[pid]
            evaluation = None if record.merged else record.evaluation()
            now = Counted(
                record, counted_doses(record, site_places, evaluation), coverage_key(record, evaluation)
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
        site_places: dict[str, Place] | None = None  # known once the people's streams begin
        records: dict[str, PersonRecord] = {}

        def save() -> None:
            assert site_places is not None
            people: dict[str, Counted] = {}
            for pid, record in records.items():
                evaluation = None if record.merged else record.evaluation()
                people[pid] = Counted(
                    record,
                    counted_doses(record, site_places, evaluation),
                    coverage_key(record, evaluation),
                )
            view.save_rebuilding(people, {})
            records.clear()

        with self.rebuilding_aside() as was:
            for stream in streams(events):
                if type(stream[0]) in SITE_EVENTS:
                    if site_places is not None:
                        raise ValueError(
                            "statistics: a site's events came after the people's; the sites are folded first"
                        )
                    fold_sites(stream, entries)
                    continue
                if site_places is None:
                    site_places = self._listed(entries)
                fold_people(stream, records)
                if len(records) >= people_per_write:
                    save()
            if site_places is None:
                site_places = self._listed(entries)
            save()
            view.count_rebuilding()
            view.finish_rebuilding(position, was)

    def _listed(self, entries: dict[str, dict[str, Any]]) -> dict[str, Place]:
        """The directory, written aside: site id → (province, district)."""
        self.view.save_rebuilding({}, entries)
        return {e["site_id"]: _place(e) for e in entries.values()}


def _place(entry: dict[str, Any]) -> Place:
    return entry["province"], entry.get("district")
