"""Shared by the read side's tests: running projections on a test store, and the views as a
fresh fold of the ledger's own aggregates says they must be."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.age_bands import age_band
from ledger.flags import unresolved
from ledger.names import person_key
from ledger.person import ERASED_NAME
from projections import Views, open_views
from projections.reconcile import DOSE_GROUPS, REQUEST_FIELDS, Recount
from projections.running import EmbeddedProjector, start_embedded
from usecases.application import DoseLedger

FIXED_NOW = datetime(2030, 1, 1, tzinfo=UTC)  # ages compared across two readings
# Quick pauses and heartbeats, so a failure and its recovery happen within a test.
FAST = {"first_pause": 0.05, "longest_pause": 0.2, "heartbeat": 0.2}


@pytest.fixture
def projector(store_url: str, ledger: DoseLedger) -> Iterator[EmbeddedProjector]:
    running = start_embedded(store_url, **FAST)
    yield running
    running.stop()


@pytest.fixture
def views(store_url: str, projector: EmbeddedProjector) -> Iterator[Views]:
    opened = open_views(store_url)
    yield opened
    opened.close()


def caught_up(views: Views, ledger: DoseLedger) -> None:
    assert views.wait(ledger.head(), timeout=30), views.status()


def signed_and_caught_up(views: Views, ledger: DoseLedger, timeout: float = 120) -> None:
    """The views caught up, once a projector's issuer has signed every current certificate
    version (it records the issuances in the ledger, which the views then fold too)."""
    deadline = time.monotonic() + timeout
    while True:
        latest = ledger.head()
        assert views.wait(latest, timeout=max(deadline - time.monotonic(), 0.1)), views.status()
        current = {c["certificate_id"] for c in views.certificates.every()} - {None}
        issued = {r["certificate_id"] for r in views.issuances.every()}
        if current <= issued and ledger.head() == latest:
            return
        assert time.monotonic() < deadline, f"{len(current - issued)} current versions not issued"
        time.sleep(0.05)


def rebuilding_rows(views: Views) -> int:
    """Rows in the tables beside the views' that a rebuild fills (empty otherwise)."""
    rows = 0
    for view in views.by_name.values():
        with view.reading() as sql:
            rows += sum(
                sql.rows(f"SELECT COUNT(*) AS n FROM {{{short}_aside}}")[0]["n"] for short in view.aside
            )
    return rows


def all_doses(views: Views) -> dict[tuple, int]:
    """Doses by every field the statistics count them by (reconcile.DOSE_GROUPS, in order)."""
    rows = views.statistics.dose_counts(list(DOSE_GROUPS))
    return {tuple(r[g] for g in DOSE_GROUPS): r["doses"] for r in rows}


def ageless(doses: dict[tuple, int]) -> dict[tuple, int]:
    """`all_doses` summed over the age band: what an erasure leaves as it was (the band came from
    the birth date it erases)."""
    band = DOSE_GROUPS.index("age_band")
    summed: Counter[tuple] = Counter()
    for key, n in doses.items():
        summed[key[:band] + key[band + 1 :]] += n
    return dict(summed)


def in_band(doses: dict[tuple, int], band: str) -> int:
    return sum(n for key, n in doses.items() if key[DOSE_GROUPS.index("age_band")] == band)


def everything(views: Views) -> dict[str, Any]:
    """Every row of every view, in a form to compare (a rebuilt view with the live one)."""
    provinces = sorted({r["province"] for r in views.statistics.coverage()})
    return {
        "certificates": list(views.certificates.every()),
        "doses": all_doses(views),
        "coverage": views.statistics.coverage(),
        "coverage_by_district_and_age": views.statistics.coverage(
            group_by=["district", "age_band"], today=FIXED_NOW.date()
        ),
        "site_counts": views.statistics.site_counts(),
        "people": {
            p: sorted(views.localities.people(p, limit=1000), key=lambda r: r["person_id"]) for p in provinces
        },
        "sites": views.review.sites(),
        "duplicates": views.review.possible_duplicates(),
        "flags": views.review.flags(),
        "corrections": views.corrections.every(),
        "corrections_summary": views.corrections.summary(now=FIXED_NOW),
        "issuances": views.issuances.every(),
        "backlog": views.backlog.every_site_day(),
    }


def assert_views_are_a_fresh_fold(views: Views, ledger: DoseLedger) -> None:
    """Every view equals what the ledger's own aggregates, folded afresh, say."""
    recount = Recount(ledger).advance(ledger.head())
    people = recount.people
    open_people = {str(pid): p for pid, p in people.items() if p.merged_into is None}

    for pid, expected in recount.certificates().items():
        shown = views.certificates.certificate(pid)
        assert shown is not None, pid
        assert (
            shown["status"],
            [(d["dose_id"], d["dose_number"]) for d in shown["doses"]],
            shown["merged_into"],
        ) == (expected["status"], expected["doses"], expected["merged_into"])
        person = people[next(i for i in people if str(i) == pid)]
        for d in shown["doses"]:
            stored = person.doses[d["dose_id"]]
            assert {k: d[k] for k in ("vaccine", "lot", "administered_at", "site_id")} == {
                k: stored[k] for k in ("vaccine", "lot", "administered_at", "site_id")
            }
        assert shown["province"] == person.details["province"]
        # Every id an earlier version had is superseded, once; nothing certified, no id.
        assert shown["revoked"] == [s["certificate_id"] for s in shown["superseded"]]
        assert len(shown["revoked"]) < shown["version"]
        assert (shown["certificate_id"] is None) == (
            shown["merged_into"] is not None or person.erased or not shown["doses"]
        )

    assert all_doses(views) == dict(recount.dose_counts())
    assert views.backlog.every_site_day() == recount.backlog()
    assert {(r["province"], r["status"]): r["people"] for r in views.statistics.coverage()} == dict(
        recount.coverage()
    )
    by_district = views.statistics.coverage(group_by=["district"])
    assert {(r["province"], r["district"], r["status"]): r["people"] for r in by_district} == dict(
        recount.coverage(by_district=True)
    )
    today = FIXED_NOW.date()
    by_age = views.statistics.coverage(group_by=["age_band"], today=today)
    assert {(r["province"], r["age_band"], r["status"]): r["people"] for r in by_age} == dict(
        Counter(
            (p.details["province"], age_band(p.details["birth_date"], today), p.evaluation().status)
            for p in open_people.values()
        )
    )
    sites = recount.sites
    assert {(r["province"], r["kind"]): r["sites"] for r in views.statistics.site_counts()} == dict(
        Counter((s.province, s.kind) for s in sites.values())
    )

    for province in {p.details["province"] for p in people.values()}:
        listed = sorted(views.localities.people(province, limit=1000), key=lambda r: r["person_id"])
        assert listed == sorted(
            (
                {
                    "person_id": pid,
                    # An erased person stays listed, masked.
                    "full_name": ERASED_NAME if p.erased else p.details["full_name"],
                    "birth_date": "" if p.erased else p.details["birth_date"],
                    "province": p.details["province"],
                    "district": p.details["district"],
                    "status": p.evaluation().status,
                }
                for pid, p in open_people.items()
                if p.details["province"] == province
            ),
            key=lambda r: r["person_id"],
        )
    for phone in {p.details["phone"] for p in people.values() if p.details["phone"]}:
        assert sorted(r["person_id"] for r in views.localities.find(phone=phone)) == sorted(
            pid for pid, p in open_people.items() if p.details["phone"] == phone
        )

    assert sorted(views.review.flags(), key=_flag_key) == sorted(
        (
            {"person_id": pid, "province": p.details["province"], **flag}
            for pid, p in open_people.items()
            for flag in unresolved((*p.evaluation().flags, *_warned_by_feeds(p)), p.doses, p.resolved_flags)
        ),
        key=_flag_key,
    )
    groups: dict[tuple[str, str], list[str]] = {}
    for pid, p in open_people.items():
        if p.erased:
            continue  # no one's duplicate
        groups.setdefault((person_key(p.details["full_name"]), p.details["birth_date"]), []).append(pid)
    assert {
        (g["name_key"], g["birth_date"]): sorted(m["person_id"] for m in g["people"])
        for g in views.review.possible_duplicates()
    } == {key: sorted(ids) for key, ids in groups.items() if len(ids) > 1}
    assert sorted(views.review.sites(), key=lambda r: r["site_id"]) == sorted(
        (
            {
                "site_id": s.site_id,
                "name": s.name,
                "province": s.province,
                "district": s.district,
                "status": s.kind,
                "review_status": s.review_status,
            }
            for s in sites.values()
        ),
        key=lambda r: r["site_id"],
    )

    assert {
        r["request_id"]: {k: r[k] for k in REQUEST_FIELDS} for r in views.corrections.every()
    } == recount.corrections()


def _flag_key(flag: dict[str, Any]) -> tuple:
    return flag["person_id"], flag["dose_id"], flag["kind"]


def _warned_by_feeds(person: Any) -> list[dict[str, Any]]:
    """The review's feed-warning flags as the aggregate's doses say (their source's warnings)."""
    flags = []
    for d in person.doses.values():
        warnings = (d.get("source") or {}).get("warnings")
        if warnings and not d["voided"]:
            placed = [dict(zip(("where", "reason"), w.split(": ", 1), strict=True)) for w in warnings]
            flags.append(
                {"kind": "feed-warning", "dose_id": d["dose_id"], "site_id": d["site_id"], "warnings": placed}
            )
    return flags
