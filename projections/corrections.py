"""Correction requests as the people accountable for them see them: every request with its
province, site, status and age; the overdue ones; counts by outcome; time to resolution.

- **Province**: the person's (it follows a corrected province). A request assigned to another
  province is listed for that province too: `provinces=[...]` matches either.
- **Site**: the site it is assigned to, else the site a missing-dose claim names (the site
  that did not enter the dose), else none.
- **Age**: from `filed_at` (the citizen's filing time, which a paper claim may date back) to
  now, or to the resolution. **Overdue**: unresolved and older than the limit.
- **Time to resolution**: the resolving event's recorded time minus `filed_at`.

The view keeps each person's province (a request names only its person) and each request.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from eventsourcing.persistence import Tracking

from ledger.corrections import filed_moment
from ledger.errors import InvalidValue
from ledger.person import ACCEPTED, MISSING_DOSE, OPEN_STATES, REJECTED, Person
from ledger.rules import ICT
from projections.backlog import AGES
from projections.engine.paging import PagedProjection
from projections.engine.tables import Tables

RESOLVED = (ACCEPTED, REJECTED)
STATUSES = (*OPEN_STATES, *RESOLVED)
# What a reader may ask for besides a status: every unresolved, or every resolved request.
STATUS_GROUPS = {"unresolved": OPEN_STATES, "resolved": RESOLVED}
DEFAULT_OVERDUE = timedelta(days=7)
DAY = 86400.0

CORRECTION_EVENTS: tuple[type, ...] = (
    Person.CorrectionRequested,
    Person.CorrectionRepeated,
    Person.CorrectionAssigned,
    Person.CorrectionResolved,
)


# --- the fold: a page of events → people's provinces and request records (no SQL) ---------------


def _site_of(request: dict[str, Any]) -> str | None:
    assignee = request["assignee"] or {}
    if "site" in assignee:
        site: str = assignee["site"]
        return site
    if request["kind"] != MISSING_DOSE:
        return None
    # Erased: the site the Erased event kept (none until it is folded, in a rebuild).
    claimed: str | None = (
        request.get("claim_site") if request["claim"] is None else request["claim"].get("site_id")
    )
    return claimed


def _requested(event: Any, province: str) -> dict[str, Any]:
    return {
        "request_id": str(event.request_id),
        "person_id": str(event.originator_id),
        "province": province,
        "kind": event.kind,
        "claim": event.claim,
        "status": "open",
        "assignee": None,
        "channel": event.channel,
        "evidence_ref": event.evidence_ref,
        "contact": event.contact,
        "filed_at": event.filed_at,
        "repeats": 0,
        "outcome": None,
        "reason": None,
        "resolved_at": None,
    }


def fold_requests(
    events: list[Any], people: dict[str, str], requests: dict[str, dict[str, Any]]
) -> tuple[set[str], set[str]]:
    """Apply a page's events, in order, to the provinces (person id → province) and requests
    loaded for it. Returns the ids of the people and of the requests touched."""
    touched_people: set[str] = set()
    touched: set[str] = set()
    for event in events:
        pid = str(event.originator_id)
        if isinstance(event, Person.Registered):
            people[pid] = event.province
            touched_people.add(pid)
        elif isinstance(event, Person.DetailsCorrected):
            if "province" in event.changes:
                people[pid] = event.changes["province"]
                touched_people.add(pid)
                for request in requests.values():
                    if request["person_id"] == pid:
                        request["province"] = people[pid]
                        touched.add(request["request_id"])
        elif isinstance(event, Person.DuplicateAbsorbed):
            # A merged-away person's requests now belong to the survivor (and its province).
            for carried in event.corrections or ():
                moved = requests.get(carried["request_id"])
                if moved is not None:
                    moved.update(person_id=pid, province=people[pid])
                    touched.add(moved["request_id"])
        elif isinstance(event, Person.MergeUndone):
            # An unmerge gives the duplicate its requests back (and its province).
            for released in event.corrections:
                moved = requests.get(released["request_id"])
                if moved is not None:
                    moved.update(person_id=pid, province=people[pid])
                    touched.add(moved["request_id"])
        elif isinstance(event, Person.Erased):
            for request in requests.values():
                if request["person_id"] == pid:
                    request.update(claim=None, contact=None)
                    request["claim_site"] = event.claim_sites.get(request["request_id"])
                    touched.add(request["request_id"])
        elif type(event) in CORRECTION_EVENTS:
            rid = str(event.request_id)
            if isinstance(event, Person.CorrectionRequested):
                if pid not in people:
                    raise LookupError(f"a correction request of person {pid} arrived before the person")
                requests[rid] = _requested(event, people[pid])
            elif rid not in requests:
                raise LookupError(f"correction request {rid} was worked before it was filed")
            request = requests[rid]
            if isinstance(event, Person.CorrectionRepeated):
                request["repeats"] += 1
                request["contact"] = event.contact or request["contact"]
            elif isinstance(event, Person.CorrectionAssigned):
                request.update(assignee=event.assignee, status="assigned")
            elif isinstance(event, Person.CorrectionResolved):
                request.update(
                    status=event.outcome,
                    outcome=event.outcome,
                    reason=event.reason,
                    resolved_at=event.timestamp.astimezone(ICT).isoformat(),
                )
            touched.add(rid)
    return touched_people, touched


def _epoch(moment: str | None) -> float | None:
    return None if moment is None else filed_moment(moment).timestamp()


def _days(seconds: float) -> float:
    return round(seconds / DAY, 2)


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default; q=0.5 is the median)."""
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- the view ---------------------------------------------------------------------------------


class CorrectionsView(Tables):
    name = "corrections"
    tables = {
        "people": "person_id TEXT PRIMARY KEY, province TEXT NOT NULL",
        "requests": "request_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, province TEXT NOT NULL, "
        "assigned_province TEXT, site_id TEXT, status TEXT NOT NULL, "
        "filed_epoch DOUBLE PRECISION NOT NULL, resolution_seconds DOUBLE PRECISION, "
        "record TEXT NOT NULL",
    }
    indexes = (
        ("requests", "status, filed_epoch"),
        ("requests", "person_id"),
        ("requests", "province"),
        ("requests", "assigned_province"),
        ("requests", "site_id, status"),  # a site's requests (the console's queue and dashboard)
    )

    def requests(
        self,
        statuses: list[str] | None = None,
        provinces: list[str] | None = None,
        *,
        overdue: bool | None = None,
        now: datetime | None = None,
        overdue_after: timedelta = DEFAULT_OVERDUE,
        limit: int = 100,
        offset: int = 0,
        sites: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Requests, oldest filed first: [{request_id, person_id, province, site_id, kind, claim,
        status, assignee, channel, evidence_ref, contact, filed_at, repeats, outcome, reason,
        resolved_at, age_days, overdue}]. `statuses` may name a STATUS_GROUPS entry too.
        `overdue`: True only the overdue, False none of them. `sites`: the requests naming one of
        these sites (assigned to it, or, unassigned, claiming a dose there)."""
        if not 1 <= limit <= 10_000:
            raise InvalidValue("limit", "must be from 1 to 10000")
        now_epoch = (now or datetime.now(UTC)).timestamp()
        cutoff = now_epoch - overdue_after.total_seconds()
        where, params = self._where(statuses, provinces, sites)
        if overdue is not None:
            late = "(status IN ('open', 'assigned') AND filed_epoch < ?)"
            where.append(late if overdue else f"NOT {late}")
            params.append(cutoff)
        with self.reading() as sql:
            rows = sql.rows(
                f"SELECT filed_epoch, resolution_seconds, record FROM {{requests}} "
                f"WHERE {' AND '.join(where)} ORDER BY filed_epoch, request_id "
                f"LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        found = []
        for row in rows:
            record = orjson.loads(row["record"])
            unresolved = record["status"] in OPEN_STATES
            seconds = now_epoch - row["filed_epoch"] if unresolved else row["resolution_seconds"]
            found.append(
                {
                    **record,
                    "age_days": _days(max(seconds, 0.0)),
                    "overdue": unresolved and row["filed_epoch"] < cutoff,
                }
            )
        return found

    def summary(
        self,
        provinces: list[str] | None = None,
        *,
        sites: list[str] | None = None,
        now: datetime | None = None,
        overdue_after: timedelta = DEFAULT_OVERDUE,
    ) -> dict[str, Any]:
        """{open: [{province, site_id, open, overdue, oldest_filed_at, oldest_age_days}],
        overdue: n, resolved: {accepted: n, rejected: n},
        resolution_days: {count, median, p90}} (median and p90 None when nothing is resolved).
        `sites`: the open requests naming these sites, and the answered ones they were given
        to answer (assigned to one of them)."""
        now_epoch = (now or datetime.now(UTC)).timestamp()
        cutoff = now_epoch - overdue_after.total_seconds()
        where, params = self._where(None, provinces, sites)
        conditions = " AND ".join(where)
        with self.reading() as sql:
            groups = sql.rows(
                "SELECT province, site_id, COUNT(*) AS open, "
                "SUM(CASE WHEN filed_epoch < ? THEN 1 ELSE 0 END) AS overdue, "
                "MIN(filed_epoch) AS oldest FROM {requests} "
                f"WHERE status IN ('open', 'assigned') AND {conditions} "
                "GROUP BY province, site_id ORDER BY province, site_id",
                [cutoff, *params],
            )
            if sites is None:
                outcomes = sql.rows(
                    f"SELECT status, COUNT(*) AS n FROM {{requests}} WHERE "
                    f"status IN ('accepted', 'rejected') AND {conditions} GROUP BY status",
                    params,
                )
                times = [
                    r["resolution_seconds"]
                    for r in sql.rows(
                        "SELECT resolution_seconds FROM {requests} WHERE resolution_seconds IS NOT NULL "
                        f"AND {conditions} ORDER BY resolution_seconds",
                        params,
                    )
                ]
            else:
                # A resolved request keeps its site column from the claim when no site was given
                # it to answer: which one answered is in the record (a site's few, by the index).
                answered = [
                    (r["status"], r["resolution_seconds"])
                    for r in sql.rows(
                        "SELECT status, resolution_seconds, record FROM {requests} WHERE "
                        f"status IN ('accepted', 'rejected') AND {conditions}",
                        params,
                    )
                    if (orjson.loads(r["record"])["assignee"] or {}).get("site") in sites
                ]
                outcomes = [
                    {"status": o, "n": sum(1 for status, _ in answered if status == o)} for o in RESOLVED
                ]
                times = sorted(t for _, t in answered if t is not None)
        open_groups = [
            {
                "province": g["province"],
                "site_id": g["site_id"],
                "open": int(g["open"]),
                "overdue": int(g["overdue"]),
                "oldest_filed_at": datetime.fromtimestamp(g["oldest"], ICT).isoformat(),
                "oldest_age_days": _days(max(now_epoch - g["oldest"], 0.0)),
            }
            for g in groups
        ]
        counted = {r["status"]: int(r["n"]) for r in outcomes}
        return {
            "open": open_groups,
            "overdue": sum(g["overdue"] for g in open_groups),
            "resolved": {outcome: counted.get(outcome, 0) for outcome in RESOLVED},
            "resolution_days": {
                "count": len(times),
                "median": _days(percentile(times, 0.5)) if times else None,
                "p90": _days(percentile(times, 0.9)) if times else None,
            },
        }

    def count(
        self,
        statuses: list[str] | None = None,
        provinces: list[str] | None = None,
        sites: list[str] | None = None,
    ) -> int:
        """How many requests `requests` would list with no limit."""
        where, params = self._where(statuses, provinces, sites)
        with self.reading() as sql:
            rows = sql.rows(f"SELECT COUNT(*) AS n FROM {{requests}} WHERE {' AND '.join(where)}", params)
        return int(rows[0]["n"])

    def open_by_age(
        self,
        provinces: list[str] | None = None,
        sites: list[str] | None = None,
        *,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The unresolved requests by their age, whole days since filed: [{age, open}] for each
        of AGES (the backlog's bands), in order, every band present. Counted from the filing
        times alone: no claim or contact is read. `sites`: only the requests naming these."""
        now_epoch = (now or datetime.now(UTC)).timestamp()
        where, params = self._where(list(OPEN_STATES), provinces)
        if sites is not None:
            if not sites:
                return [{"age": label, "open": 0} for label, _, _ in AGES]
            where.append(f"site_id IN ({','.join('?' * len(sites))})")
            params.extend(sites)
        # A request of age d whole days falls in the band whose bounds hold d: filed after
        # now - (most + 1) days. The bounds are numbers made here, passed as parameters.
        bounds = [(label, now_epoch - (most + 1) * DAY) for label, _, most in AGES if most is not None]
        label = "CASE " + " ".join("WHEN filed_epoch > ? THEN ?" for _ in bounds) + " ELSE ? END"
        label_params: list[Any] = [v for name, bound in bounds for v in (bound, name)] + [AGES[-1][0]]
        with self.reading() as sql:
            rows = sql.rows(
                f"SELECT age, COUNT(*) AS n FROM (SELECT {label} AS age FROM {{requests}} "
                f"WHERE {' AND '.join(where)}) aged GROUP BY age",
                [*label_params, *params],
            )
        counted = {r["age"]: int(r["n"]) for r in rows}
        return [{"age": name, "open": counted.get(name, 0)} for name, _, _ in AGES]

    def _where(
        self, statuses: list[str] | None, provinces: list[str] | None, sites: list[str] | None = None
    ) -> tuple[list[str], list[Any]]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if sites is not None:
            if not sites:
                return ["1 = 0"], []
            where.append(f"site_id IN ({','.join('?' * len(sites))})")
            params.extend(sites)
        if statuses is not None:
            unknown = [s for s in statuses if s not in STATUSES and s not in STATUS_GROUPS]
            if unknown or not statuses:
                raise InvalidValue("status", f"must be some of {', '.join((*STATUSES, *STATUS_GROUPS))}")
            wanted = sorted({s for name in statuses for s in STATUS_GROUPS.get(name, (name,))})
            where.append(f"status IN ({','.join('?' * len(wanted))})")
            params.extend(wanted)
        if provinces is not None:
            if not provinces:
                return ["1 = 0"], []
            marks = ",".join("?" * len(provinces))
            where.append(f"(province IN ({marks}) OR assigned_province IN ({marks}))")
            params.extend([*provinces, *provinces])
        return where, params

    def every(self) -> list[dict[str, Any]]:
        """Every request's record, by request id (for reconciliation)."""
        with self.reading() as sql:
            rows = sql.rows("SELECT record FROM {requests} ORDER BY request_id")
        return [orjson.loads(r["record"]) for r in rows]

    def load(
        self, person_ids: list[str], request_ids: list[str], moved: list[str]
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        """The provinces of these people, and these requests with every request of the people
        in `moved` (whose province a page corrects)."""
        with self.reading() as sql:
            people = sql.rows_in(
                "SELECT person_id, province FROM {people} WHERE person_id IN ({ids})", person_ids
            )
            rows = sql.rows_in("SELECT record FROM {requests} WHERE request_id IN ({ids})", request_ids)
            rows += sql.rows_in("SELECT record FROM {requests} WHERE person_id IN ({ids})", moved)
        return (
            {r["person_id"]: r["province"] for r in people},
            {(record := orjson.loads(r["record"]))["request_id"]: record for r in rows},
        )

    def save(
        self,
        people: dict[str, str],
        requests: dict[str, dict[str, Any]],
        tracking: Tracking,
        after: int | None,
    ) -> None:
        """Store these provinces and requests; move from `after` to `tracking`."""
        rows = []
        for rid, r in requests.items():
            r["site_id"] = _site_of(r)
            filed = _epoch(r["filed_at"])
            resolved = _epoch(r["resolved_at"])
            rows.append(
                (
                    rid,
                    r["person_id"],
                    r["province"],
                    (r["assignee"] or {}).get("province"),
                    r["site_id"],
                    r["status"],
                    filed,
                    None if resolved is None or filed is None else max(resolved - filed, 0.0),
                    orjson.dumps(r).decode(),
                )
            )
        with self.writing(tracking, after) as sql:
            sql.insert_rows(
                "INSERT INTO {people} (person_id, province) VALUES {rows} ON CONFLICT "
                "(person_id) DO UPDATE SET province = excluded.province",
                list(people.items()),
            )
            sql.insert_rows(
                "INSERT INTO {requests} (request_id, person_id, province, assigned_province, "
                "site_id, status, filed_epoch, resolution_seconds, record) VALUES {rows} "
                "ON CONFLICT (request_id) DO UPDATE SET "
                "person_id = excluded.person_id, province = excluded.province, assigned_province = excluded.assigned_province, "
                "site_id = excluded.site_id, status = excluded.status, "
                "resolution_seconds = excluded.resolution_seconds, record = excluded.record",
                rows,
            )


class Corrections(PagedProjection[CorrectionsView]):
    handles = (
        Person.Registered,
        Person.DetailsCorrected,
        Person.DuplicateAbsorbed,
        Person.MergeUndone,
        Person.Erased,
        *CORRECTION_EVENTS,
    )
    view_class = CorrectionsView

    def process_page(self, events: list[Any], tracking: Tracking, after: int | None) -> None:
        moved = sorted(  # and erased: all their requests are loaded
            {
                str(e.originator_id)
                for e in events
                if isinstance(e, Person.DetailsCorrected)
                and "province" in e.changes
                or isinstance(e, Person.Erased)
            }
        )
        wanted = sorted({str(e.originator_id) for e in events if not isinstance(e, Person.Registered)})
        request_ids = sorted(
            {str(e.request_id) for e in events if type(e) in CORRECTION_EVENTS}
            | {
                c["request_id"]
                for e in events
                if isinstance(e, (Person.DuplicateAbsorbed, Person.MergeUndone))
                for c in e.corrections or ()
            }
        )
        people, requests = self.view.load(wanted, request_ids, moved)
        touched_people, touched = fold_requests(events, people, requests)
        self.view.save(
            {pid: people[pid] for pid in touched_people},
            {rid: requests[rid] for rid in touched},
            tracking,
            after,
        )
