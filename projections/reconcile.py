"""Reconciliation: recount doses, statuses, correction requests and the backlog straight from
the event store, compare with the views.

The recount does not use the projections' code: it folds the ledger's own aggregates (`Person`,
`Site`) from the stored events, in order, and asks them (`Person.evaluation()`), so a fault in
a projection's fold shows up as a difference instead of being repeated.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.age_bands import age_band
from ledger.person import Person
from ledger.rules import day_of
from ledger.site import Site
from projections.views import Views
from usecases.application import DoseLedger


def _stream_events(aggregate: Any) -> list[type]:
    """Every event class of an aggregate: a fold needs the whole stream, not what the views use."""
    return [
        c
        for c in vars(aggregate).values()
        if isinstance(c, type)
        and issubclass(c, aggregate.Event)
        and c not in (aggregate.Event, aggregate.Created)
    ]


TOPICS = [get_topic(c) for c in _stream_events(Person) + _stream_events(Site)]
PAGE = 1000
# Every field the statistics count doses by: the recount compares each bucket.
DOSE_GROUPS = ("date", "province", "district", "site_id", "vaccine", "dose_number", "age_band", "sex")
# What the corrections view must agree with the ledger on, for each request.
REQUEST_FIELDS = (
    "person_id",
    "province",
    "kind",
    "claim",
    "status",
    "assignee",
    "channel",
    "filed_at",
    "repeats",
    "outcome",
    "reason",
)


class Recount:
    """The ledger's people and sites, folded from the stored events up to `position`."""

    def __init__(self, ledger: DoseLedger):
        self.ledger = ledger
        self.position = 0
        self.aggregates: dict[UUID, Any] = {}

    def advance(self, to: int) -> Recount:
        while self.position < to:
            page = self.ledger.recorder.select_notifications(
                start=self.position, limit=PAGE, stop=to, topics=TOPICS, inclusive_of_start=False
            )
            for notification in page:
                event: Any = self.ledger.mapper.to_domain_event(notification)  # an aggregate's: mutate
                self.aggregates[event.originator_id] = event.mutate(self.aggregates.get(event.originator_id))
            self.position = page[-1].id if len(page) == PAGE else to
        return self

    @property
    def people(self) -> dict[UUID, Person]:
        return {i: a for i, a in self.aggregates.items() if isinstance(a, Person)}

    @property
    def sites(self) -> dict[str, Site]:
        return {a.site_id: a for a in self.aggregates.values() if isinstance(a, Site)}

    def certificates(self) -> dict[str, dict[str, Any]]:
        """person id → what the certificate must show: status, numbered doses, survivor."""
        found: dict[str, dict[str, Any]] = {}
        for pid, person in self.people.items():
            if person.merged_into is not None:
                found[str(pid)] = {"status": "none", "doses": [], "merged_into": str(person.merged_into)}
                continue
            evaluation = person.evaluation()
            found[str(pid)] = {
                "status": evaluation.status,
                "merged_into": None,
                "doses": [(n.dose["dose_id"], n.number) for n in evaluation.doses],
            }
        return found

    def dose_counts(self) -> Counter[Any]:
        """(day, province, district, site_id, vaccine, dose number, age band, sex) → valid doses
        (see projections.statistics; a district or sex unknown is None)."""
        sites = self.sites
        counts: Counter[Any] = Counter()
        for person in self.people.values():
            if person.merged_into is not None:
                continue
            details = person.details
            for n in person.evaluation().doses:
                site = sites.get(n.dose["site_id"])
                day = day_of(n.dose["administered_at"])
                province, district = (
                    (site.province, site.district)
                    if site is not None and site.province
                    else (details["province"], details.get("district"))
                )
                if not district and province == details["province"]:
                    district = details.get("district")
                counts[
                    (
                        day.isoformat(),
                        province,
                        district or None,
                        n.dose["site_id"],
                        n.dose["vaccine"],
                        n.number,
                        age_band(details.get("birth_date"), day),
                        details.get("sex") or None,
                    )
                ] += 1
        return counts

    def backlog(self) -> dict[tuple[str, str], tuple[int | None, int]]:
        """(site, day) → (the day's latest tally or None, valid doses recorded): see
        projections.backlog. A merged-away person's doses count on the survivor."""
        found: dict[tuple[str, str], list[Any]] = {}
        for site in self.sites.values():
            for day, reports in site.tallies.items():
                found[(site.site_id, day)] = [sum(reports[-1]["counts"].values()), 0]
        for person in self.people.values():
            if person.merged_into is not None:
                continue
            for n in person.evaluation().doses:
                key = (n.dose["site_id"], day_of(n.dose["administered_at"]).isoformat())
                found.setdefault(key, [None, 0])[1] += 1
        return {key: (tallied, recorded) for key, (tallied, recorded) in found.items()}

    def corrections(self) -> dict[str, dict[str, Any]]:
        """request id → what the corrections view must show of it. A merge carries the
        duplicate's requests to the survivor, whose copy is the one that counts."""
        people = sorted(self.people.items(), key=lambda item: item[1].merged_into is None)
        return {
            rid: {
                **{k: request[k] for k in REQUEST_FIELDS if k in request},
                "person_id": str(pid),
                "province": person.details["province"],
            }
            for pid, person in people
            for rid, request in person.corrections.items()
        }

    def coverage(self, by_district: bool = False) -> Counter[Any]:
        """(province, status) → people not merged away; (province, district, status) by district."""
        return Counter(
            (
                p.details["province"],
                *((p.details.get("district") or None,) if by_district else ()),
                p.evaluation().status,
            )
            for p in self.people.values()
            if p.merged_into is None
        )


@dataclass
class Reconciliation:
    positions: dict[str, int]  # the position each view was compared at
    differences: list[str] = field(default_factory=list)


def reconcile(views: Views, *, attempts: int = 3, timeout: float = 30.0) -> Reconciliation:
    """Compare the certificates, statistics, corrections and backlog views with a recount of the
    event store.

    Each view is compared at its own position. A view that moves while it is read (a projector
    is running) is read again, up to `attempts` times.
    """
    head = views.ledger.head()
    views.wait(head, timeout)  # a view still behind is compared where it is
    checked = {
        "certificates": views.certificates,
        "statistics": views.statistics,
        "corrections": views.corrections,
        "backlog": views.backlog,
    }
    for attempt in range(attempts):
        before = {name: view.position() or 0 for name, view in checked.items()}
        certificates = {c["person_id"]: c for c in views.certificates.every()}
        counts = views.statistics.dose_counts(list(DOSE_GROUPS))
        coverage = views.statistics.coverage(group_by=["district"])
        requests = {r["request_id"]: r for r in views.corrections.every()}
        site_days = views.backlog.every_site_day()
        if (
            before == {name: view.position() or 0 for name, view in checked.items()}
            or attempt == attempts - 1
        ):
            break
    recount = Recount(views.ledger)
    differences: list[str] = []
    for name in sorted(before, key=before.__getitem__):
        recount.advance(before[name])
        if name == "certificates":
            differences += _certificate_differences(certificates, recount.certificates())
        elif name == "corrections":
            differences += _request_differences(requests, recount.corrections())
        elif name == "backlog":
            differences += _backlog_differences(site_days, recount.backlog())
        else:
            differences += _count_differences(
                "doses",
                {tuple(r[g] for g in DOSE_GROUPS): r["doses"] for r in counts},
                recount.dose_counts(),
            )
            differences += _count_differences(
                "people",
                {(r["province"], r["district"], r["status"]): r["people"] for r in coverage},
                recount.coverage(by_district=True),
            )
    return Reconciliation(before, differences)


def _certificate_differences(view: dict[str, dict[str, Any]], ledger: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    for pid in sorted(view.keys() | ledger.keys()):
        shown, truth = view.get(pid), ledger.get(pid)
        if shown is None:
            assert truth is not None  # one of the two has it
            found.append(
                f"certificates: person {pid} has no certificate (status {truth['status']} in the ledger)"
            )
            continue
        if truth is None:
            found.append(f"certificates: person {pid} has a certificate but is not in the ledger")
            continue
        doses = [(d["dose_id"], d["dose_number"]) for d in shown["doses"]]
        for what, seen, expected in (
            ("status", shown["status"], truth["status"]),
            ("doses", doses, truth["doses"]),
            ("merged_into", shown["merged_into"], truth["merged_into"]),
        ):
            if seen != expected:
                found.append(
                    f"certificates: person {pid}: {what} {seen!r} in the view, {expected!r} in the ledger"
                )
    return found


def _backlog_differences(
    view: dict[tuple[str, str], tuple[int | None, int]], ledger: dict[tuple[str, str], tuple[int | None, int]]
) -> list[str]:
    return [
        f"backlog: site {site} on {day}: (tallied, recorded) {view.get((site, day))!r} in the view, "
        f"{ledger.get((site, day))!r} in the ledger"
        for site, day in sorted(view.keys() | ledger.keys())
        if view.get((site, day)) != ledger.get((site, day))
    ]


def _request_differences(view: dict[str, dict[str, Any]], ledger: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    for rid in sorted(view.keys() | ledger.keys()):
        shown, truth = view.get(rid), ledger.get(rid)
        if shown is None or truth is None:
            found.append(
                f"corrections: request {rid} is "
                + ("missing from the view" if shown is None else "in the view but not in the ledger")
            )
            continue
        found += [
            f"corrections: request {rid}: {k} {shown.get(k)!r} in the view, {truth[k]!r} in the ledger"
            for k in REQUEST_FIELDS
            if shown.get(k) != truth[k]
        ]
    return found


def _count_differences(what: str, view: dict[tuple[Any, ...], int], ledger: Counter[Any]) -> list[str]:
    return [
        f"statistics: {what} {'/'.join(str(k) for k in key)}: {view.get(key, 0)} in the view, "
        f"{ledger.get(key, 0)} in the ledger"
        for key in sorted(view.keys() | ledger.keys(), key=str)
        if view.get(key, 0) != ledger.get(key, 0)
    ]
