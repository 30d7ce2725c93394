"""The backlog projection: per site and day, the doses the site tallied against the doses the
ledger holds, and what is missing.

**Tallied**: the day's latest `Site.TallyReported` (the total over its vaccines). **Recorded**:
the valid doses administered that day (Vietnam time) at that site: not voided, of a person not
merged away (a merge carries the doses to the survivor, where they count). An amendment that
moves a dose to another site or day moves it here; a retro-imported dose counts when it lands,
whatever day it was imported on. **Backlog** = max(tallied − recorded, 0), and the raw
`difference` tallied − recorded (negative: more recorded than tallied, a tally to check).

Only days a site tallied are in the backlog: a day without a tally claims nothing. A site's
province and district are the directory's (a review that moves the site moves its rows).

Each person's counted doses are kept (their site and day, no personal data: the records keep
no details), and recounted whenever the person changes; the difference is applied to the
per-site-day counts. A rebuild folds the sites first (listings, reviews, tallies), then each
person's stream once, and sums the recorded doses in SQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.errors import InvalidValue
from ledger.rules import day_of, now_ict
from ledger.site import Site
from projections.engine.paging import PagedProjection, streams
from projections.engine.statements import Sql
from projections.engine.tables import Tables
from projections.records import PERSON_EVENTS, SITE_EVENTS, PersonRecord, fold_people, fold_sites, person_ids

TALLY_EVENTS: tuple[type, ...] = (Site.TallyReported,)
# The ages of a gap, in days since the day tallied: (label, fewest days, most days or None).
AGES: tuple[tuple[str, int, int | None], ...] = (
    ("0-7", 0, 7),
    ("8-30", 8, 30),
    ("31-90", 31, 90),
    (">90", 91, None),
)
SiteDay = tuple[str, str]  # site id, ISO day


@dataclass(frozen=True)
class Keyset:
    """A page of groups: those whose key (these result columns, nulls as "") comes after `after`."""

    columns: tuple[str, ...]
    after: tuple[Any, ...] | None = None
    limit: int | None = None


_BACKLOG = "CASE WHEN d.tallied > d.recorded THEN d.tallied - d.recorded ELSE 0 END"
_SUMS = (
    "CAST(SUM(d.tallied) AS BIGINT) AS tallied, CAST(SUM(d.recorded) AS BIGINT) AS recorded, "
    f"CAST(SUM({_BACKLOG}) AS BIGINT) AS backlog, "
    "CAST(SUM(d.tallied - d.recorded) AS BIGINT) AS difference, CAST(COUNT(*) AS BIGINT) AS days"
)


TOTAL_FIELDS = ("tallied", "recorded", "backlog", "difference", "days", "sites")
_SITES_COUNTED = "CAST(COUNT(DISTINCT s.site_id) AS BIGINT) AS sites, "
_TOTAL = _SITES_COUNTED  # the total: the sums and the sites, no group
# Per grouping: the columns before the sums, the GROUP BY, the ORDER BY, the key (a page's).
GROUPINGS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "site": (
        "s.site_id AS site_id, MAX(s.name) AS name, MAX(s.province) AS province, "
        "MAX(s.district) AS district, ",
        "s.site_id",
        "site_id",
        ("site_id",),
    ),
    "district": (
        f"s.province AS province, s.district AS district, {_SITES_COUNTED}",
        "s.province, s.district",
        "province, district",
        ("province", "district"),
    ),
    "province": (f"s.province AS province, {_SITES_COUNTED}", "s.province", "province", ("province",)),
    "age": ("", "", "age", ("age",)),  # its label depends on the day: `_grouping`
}


@dataclass(frozen=True)
class BacklogFigures:
    """A grouping's rows and the whole backlog's total, from one snapshot of the view."""

    rows: list[dict[str, Any]]
    total: dict[str, int]


def _grouping(group_by: str, today: date | None = None) -> tuple[str, str, str, tuple[str, ...]]:
    """GROUPINGS' entry; for `age`, its bands as of `today` (Vietnam's by default)."""
    if group_by != "age":
        return GROUPINGS[group_by]
    today = today or now_ict().date()
    cases = " ".join(
        f"WHEN d.day >= '{(today - timedelta(days=most)).isoformat()}' THEN '{label}'"
        for label, _, most in AGES
        if most is not None
    )
    label = f"CASE {cases} ELSE '{AGES[-1][0]}' END"
    return f"{label} AS age, {_SITES_COUNTED}", label, "age", ("age",)


def _every_age(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows by age, each of AGES in order, an age without a row as zeros."""
    found = {row["age"]: row for row in rows}
    empty = dict.fromkeys(TOTAL_FIELDS, 0)
    return [found.get(age) or {"age": age, **empty} for age, _, _ in AGES]


def counted(record: PersonRecord) -> dict[str, SiteDay]:
    """dose id → (site, day) of the person's valid doses; nothing for a person merged away."""
    if record.merged:
        return {}
    return {
        dose_id: (dose["site_id"], day_of(dose["administered_at"]).isoformat())
        for dose_id, dose in record.doses.items()
        if not dose["voided"]
    }


def without_details(record: PersonRecord) -> PersonRecord:
    """The record as this view keeps it: doses only (no name, birth date or phone: the backlog
    counts doses, and a view holding no personal data has none to erase)."""
    record.details = {}
    return record


def _day(value: date | str | None, field_name: str) -> str | None:
    if value is None:
        return None
    try:
        return (value if isinstance(value, date) else date.fromisoformat(str(value))).isoformat()
    except ValueError:
        raise InvalidValue(field_name, f"must be a date (YYYY-MM-DD), got {value!r}") from None


def fold_tallies(events: list[Any], tallied: dict[SiteDay, int]) -> None:
    """Each tally's total into (site, day) → doses, in order: a later tally of a day replaces it."""
    for event in events:
        if isinstance(event, Site.TallyReported):
            tallied[(event.site_id, event.day)] = sum(event.counts.values())


@dataclass
class BacklogChanges:
    people: dict[str, tuple[PersonRecord, dict[str, SiteDay]]]  # recounted: record, counted doses
    recorded: Counter[SiteDay]  # (site, day) → change in recorded doses
    tallied: dict[SiteDay, int]  # (site, day) → the day's latest tally
    sites: dict[str, dict[str, Any]]  # directory entries listed or reviewed, by aggregate id


class BacklogView(Tables):
    """Tallied against recorded doses per site and day, read by site, district, province or
    age of the gap; each read limited to some provinces (None: all; []: none)."""

    name = "backlog"
    tables = {
        "people": "person_id TEXT PRIMARY KEY, record TEXT NOT NULL",
        "doses": "person_id TEXT NOT NULL, dose_id TEXT NOT NULL, site_id TEXT NOT NULL, "
        "day TEXT NOT NULL, PRIMARY KEY (person_id, dose_id)",
        "site_days": "site_id TEXT NOT NULL, day TEXT NOT NULL, tallied BIGINT, "
        "recorded BIGINT NOT NULL, PRIMARY KEY (site_id, day)",
        "sites": "key TEXT PRIMARY KEY, site_id TEXT NOT NULL UNIQUE, name TEXT, kind TEXT NOT NULL, "
        "province TEXT, district TEXT",
    }
    indexes = (("doses", "site_id"), ("site_days", "day"))
    aside = ("people", "doses", "site_days", "sites")

    # --- reads ---------------------------------------------------------------------------------

    def site_days(
        self,
        site_id: str,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
    ) -> list[dict[str, Any]]:
        """One site's tallied days, oldest first: [{day, tallied, recorded, backlog, difference}]."""
        where, params = self._range(date_from, date_to)
        with self.reading() as sql:
            return sql.rows(
                f"SELECT d.day, d.tallied, d.recorded, {_BACKLOG} AS backlog, "
                "d.tallied - d.recorded AS difference FROM {site_days} d "
                f"WHERE d.site_id = ? AND {where} ORDER BY d.day",
                [site_id, *params],
            )

    def by_site(
        self,
        provinces: list[str] | None = None,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        *,
        after: tuple[str, ...] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Per site: [{site_id, name, province, district, tallied, recorded, backlog,
        difference, days}], by site id. `days`: the days the site tallied. `after`, `limit`:
        a keyset page, the sites after (site id,) (a walk of pages reads every site once,
        however their figures change meanwhile; the order a figure would give could not)."""
        return self._keyset("site", provinces, date_from, date_to, after, limit)

    def by_district(
        self,
        provinces: list[str] | None = None,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        *,
        after: tuple[str, ...] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Per district of a province: [{province, district, tallied, recorded, backlog,
        difference, days, sites}]; a site with no district in the directory counts under null.
        A keyset page after (province or "", district or "")."""
        return self._keyset("district", provinces, date_from, date_to, after, limit)

    def by_province(
        self,
        provinces: list[str] | None = None,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        *,
        after: tuple[str, ...] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Per province: [{province, tallied, recorded, backlog, difference, days, sites}]; a
        keyset page after (province or "",)."""
        return self._keyset("province", provinces, date_from, date_to, after, limit)

    def by_age(
        self,
        provinces: list[str] | None = None,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        today: date | None = None,
    ) -> list[dict[str, Any]]:
        """The backlog by the age of its gap, days since the day tallied (`today`: Vietnam's
        by default): [{age, tallied, recorded, backlog, difference, days, sites}] for each of
        AGES, in order, every age present (zero when none)."""
        columns, group, order, _ = _grouping("age", today)
        return _every_age(self._grouped(columns, group, order, provinces, date_from, date_to))

    def total(
        self,
        provinces: list[str] | None = None,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
    ) -> dict[str, int]:
        """The whole backlog: {tallied, recorded, backlog, difference, days, sites}."""
        rows = self._grouped(_TOTAL, None, None, provinces, date_from, date_to)
        row = rows[0] if rows else {}
        return {k: int(row.get(k) or 0) for k in TOTAL_FIELDS}

    def figures(
        self,
        group_by: str,
        provinces: list[str] | None = None,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        *,
        after: tuple[Any, ...] | None = None,
        limit: int | None = None,
        today: date | None = None,
    ) -> BacklogFigures:
        """One grouping's rows (`site`, `district`, `province`: a keyset page as `by_site`
        gives; `age`: every age, as `by_age`) and the whole backlog's `total`, read by ONE
        statement, so one snapshot of the view: the rows always add up to the total beside
        them, however the projector writes meanwhile. Two reads, even in one transaction,
        would not promise it (PostgreSQL's read committed gives each statement its own
        snapshot, and a standby runs a cancelled read again on a fresh one)."""
        if group_by not in GROUPINGS:
            raise InvalidValue("group_by", f"must be one of {', '.join(GROUPINGS)}")
        columns, group, order, keys = _grouping(group_by, today)
        page = Keyset(keys, after, limit) if group_by != "age" else None
        rows_sql, rows_params = self._select(columns, group, order, provinces, date_from, date_to, page)
        total_sql, total_params = self._select(_TOTAL, None, None, provinces, date_from, date_to)
        totals = ", ".join(f"t.{k} AS total_{k}" for k in TOTAL_FIELDS)
        ordered = ", ".join(f"COALESCE(g.{k}, '')" for k in keys)
        # The total's one row, beside each of the page's (NULLs when the page has none).
        statement = (
            f"SELECT {totals}, g.* FROM ({total_sql}) t LEFT JOIN ({rows_sql}) g ON 1 = 1 ORDER BY {ordered}"
        )
        with self.reading() as sql:
            found = sql.rows(statement, [*total_params, *rows_params])
        total = {k: int(found[0][f"total_{k}"] or 0) if found else 0 for k in TOTAL_FIELDS}
        rows = [{k: v for k, v in row.items() if not k.startswith("total_")} for row in found]
        rows = [row for row in rows if row.get("days")]
        return BacklogFigures(_every_age(rows) if group_by == "age" else rows, total)

    def every_site_day(self) -> dict[SiteDay, tuple[int | None, int]]:
        """(site, day) → (tallied or None, recorded), every row: what reconciliation compares."""
        with self.reading() as sql:
            rows = sql.rows("SELECT site_id, day, tallied, recorded FROM {site_days}")
        return {(r["site_id"], r["day"]): (r["tallied"], r["recorded"]) for r in rows}

    def _keyset(
        self,
        group_by: str,
        provinces: list[str] | None,
        date_from: date | str | None,
        date_to: date | str | None,
        after: tuple[Any, ...] | None,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        columns, group, order, keys = GROUPINGS[group_by]
        return self._grouped(
            columns, group, order, provinces, date_from, date_to, page=Keyset(keys, after, limit)
        )

    @staticmethod
    def _range(date_from: date | str | None, date_to: date | str | None) -> tuple[str, list[Any]]:
        where, params = ["d.tallied IS NOT NULL"], []
        for bound, op, name in ((date_from, ">=", "from"), (date_to, "<=", "to")):
            if bound is not None:
                where.append(f"d.day {op} ?")
                params.append(_day(bound, name))
        return " AND ".join(where), params

    def _grouped(
        self,
        columns: str,
        group: str | None,
        order: str | None,
        provinces: list[str] | None,
        date_from: date | str | None,
        date_to: date | str | None,
        page: Keyset | None = None,
    ) -> list[dict[str, Any]]:
        statement, params = self._select(columns, group, order, provinces, date_from, date_to, page)
        with self.reading() as sql:
            rows = sql.rows(statement, params)
        return [row for row in rows if row.get("days")]

    def _select(
        self,
        columns: str,
        group: str | None,
        order: str | None,
        provinces: list[str] | None,
        date_from: date | str | None,
        date_to: date | str | None,
        page: Keyset | None = None,
    ) -> tuple[str, list[Any]]:
        """The statement of a grouping (or of the total: no `group`) and its parameters."""
        where, params = self._range(date_from, date_to)
        select = (
            f"SELECT {columns}{_SUMS} FROM {{site_days}} d LEFT JOIN {{sites}} s ON s.site_id = d.site_id"
        )
        group_by = f" GROUP BY {group}" if group else ""
        if provinces is not None:
            # Marks of their own (never chunked: a group split across statements would be two).
            wanted = sorted(set(provinces))
            marks = ", ".join("?" for _ in wanted) or "NULL"
            where = f"s.province IN ({marks}) AND {where}"
            params = [*wanted, *params]
        statement = f"{select} WHERE {where}{group_by}"
        if page is not None:
            # The groups ordered by their key, nulls as "" (as the key a cursor holds them).
            keys = ", ".join(f"COALESCE(g.{k}, '')" for k in page.columns)
            statement = f"SELECT * FROM ({statement}) g"
            if page.after is not None:
                marks = ", ".join("?" for _ in page.columns)
                statement += f" WHERE ({keys}) > ({marks})"
                params = [*params, *page.after]
            statement += f" ORDER BY {keys}"
            if page.limit is not None:
                statement += " LIMIT ?"
                params = [*params, page.limit]
        elif order:
            statement += f" ORDER BY {order}"
        return statement, params

    # --- the fold's reads and writes -----------------------------------------------------------

    def load(self, person_ids: list[str]) -> dict[str, tuple[PersonRecord, dict[str, SiteDay]]]:
        with self.reading() as sql:
            people = sql.rows_in(
                "SELECT person_id, record FROM {people} WHERE person_id IN ({ids})", person_ids
            )
            doses = sql.rows_in(
                "SELECT person_id, dose_id, site_id, day FROM {doses} WHERE person_id IN ({ids})", person_ids
            )
        found: dict[str, tuple[PersonRecord, dict[str, SiteDay]]] = {
            r["person_id"]: (PersonRecord.loads(r["record"]), {}) for r in people
        }
        for d in doses:
            found[d["person_id"]][1][d["dose_id"]] = (d["site_id"], d["day"])
        return found

    def sites(self, keys: list[str]) -> list[dict[str, Any]]:
        with self.reading() as sql:
            return sql.rows_in(
                "SELECT key, site_id, name, kind, province, district FROM {sites} WHERE key IN ({ids})", keys
            )

    def save(self, changes: BacklogChanges, tracking: Tracking, after: int | None) -> None:
        with self.writing(tracking, after) as sql:
            self._write(sql, changes.people, changes.sites)
            sql.insert_rows(
                "INSERT INTO {site_days} (site_id, day, tallied, recorded) VALUES {rows} "
                "ON CONFLICT (site_id, day) DO UPDATE SET recorded = {site_days}.recorded + excluded.recorded",
                [(*key, None, n) for key, n in sorted(changes.recorded.items()) if n],
            )
            self._tallied(sql, changes.tallied)
            sql.run("DELETE FROM {site_days} WHERE tallied IS NULL AND recorded = 0")

    def save_rebuilding(
        self,
        people: dict[str, tuple[PersonRecord, dict[str, SiteDay]]],
        sites: dict[str, dict[str, Any]],
        tallied: dict[SiteDay, int],
    ) -> None:
        with self.writing_aside() as sql:
            self._write(sql, people, sites)
            self._tallied(sql, tallied)

    def count_rebuilding(self) -> None:
        """The rebuild's recorded doses, summed from the doses in its tables."""
        with self.writing_aside() as sql:
            sql.run(
                "INSERT INTO {site_days} (site_id, day, tallied, recorded) "
                "SELECT site_id, day, NULL, COUNT(*) FROM {doses} WHERE 1 = 1 GROUP BY site_id, day "
                "ON CONFLICT (site_id, day) DO UPDATE SET recorded = excluded.recorded"
            )

    @staticmethod
    def _tallied(sql: Sql, tallied: dict[SiteDay, int]) -> None:
        sql.insert_rows(
            "INSERT INTO {site_days} (site_id, day, tallied, recorded) VALUES {rows} "
            "ON CONFLICT (site_id, day) DO UPDATE SET tallied = excluded.tallied",
            [(*key, n, 0) for key, n in sorted(tallied.items())],
        )

    @staticmethod
    def _write(
        sql: Sql, people: dict[str, tuple[PersonRecord, dict[str, SiteDay]]], sites: dict[str, dict[str, Any]]
    ) -> None:
        sql.insert_rows(
            "INSERT INTO {people} (person_id, record) VALUES {rows} "
            "ON CONFLICT (person_id) DO UPDATE SET record = excluded.record",
            [(pid, without_details(record).dumps()) for pid, (record, _) in people.items()],
        )
        sql.run_in("DELETE FROM {doses} WHERE person_id IN ({ids})", list(people))
        sql.insert_rows(
            "INSERT INTO {doses} (person_id, dose_id, site_id, day) VALUES {rows}",
            [(pid, dose_id, *key) for pid, (_, doses) in people.items() for dose_id, key in doses.items()],
        )
        sql.insert_rows(
            "INSERT INTO {sites} (key, site_id, name, kind, province, district) VALUES {rows} "
            "ON CONFLICT (key) DO UPDATE SET name = excluded.name, kind = excluded.kind, "
            "province = excluded.province, district = excluded.district",
            [
                (key, e["site_id"], e["name"], e["kind"], e["province"], e["district"])
                for key, e in sites.items()
            ],
        )


class Backlog(PagedProjection[BacklogView]):
    handles = PERSON_EVENTS + SITE_EVENTS + TALLY_EVENTS
    folded_first = SITE_EVENTS + TALLY_EVENTS
    view_class = BacklogView

    def process_page(self, events: list[Any], tracking: Tracking, after: int | None) -> None:
        view = self.view
        loaded = view.load(person_ids(events))
        records = {pid: record for pid, (record, _) in loaded.items()}
        touched = fold_people(events, records)
        site_keys = sorted({str(e.originator_id) for e in events if type(e) in SITE_EVENTS})
        entries = {e["key"]: e for e in view.sites(site_keys)} if site_keys else {}
        listed = fold_sites(events, entries)
        tallied: dict[SiteDay, int] = {}
        fold_tallies(events, tallied)
        changes = BacklogChanges({}, Counter(), tallied, {key: entries[key] for key in listed})
        for pid in touched:
            before = loaded[pid][1] if pid in loaded else {}
            now = counted(records[pid])
            changes.recorded.update(now.values())
            changes.recorded.subtract(before.values())
            changes.people[pid] = (records[pid], now)
        view.save(changes, tracking, after)

    def replay_by_person(
        self, events: Iterable[Any], position: int | None, people_per_write: int = 500
    ) -> None:
        """Rebuild from every event of its topics up to `position`, the sites' streams first
        (their listings, reviews and tallies), then the people's, each counted once at the end
        of their stream, into tables aside that then become the view's at `position`."""
        view = self.view
        entries: dict[str, dict[str, Any]] = {}
        tallied: dict[SiteDay, int] = {}
        records: dict[str, PersonRecord] = {}
        sites_written = False

        def save() -> None:
            view.save_rebuilding({pid: (r, counted(r)) for pid, r in records.items()}, {}, {})
            records.clear()

        with self.rebuilding_aside() as was:
            for stream in streams(events):
                if type(stream[0]) in SITE_EVENTS + TALLY_EVENTS:
                    if sites_written:
                        raise ValueError(
                            "backlog: a site's events came after the people's; the sites are folded first"
                        )
                    fold_sites(stream, entries)
                    fold_tallies(stream, tallied)
                    continue
                if not sites_written:
                    view.save_rebuilding({}, entries, tallied)
                    sites_written = True
                fold_people(stream, records)
                if len(records) >= people_per_write:
                    save()
            if not sites_written:
                view.save_rebuilding({}, entries, tallied)
            save()
            view.count_rebuilding()
            view.finish_rebuilding(position, was)
