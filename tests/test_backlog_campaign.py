"""Done when: a campaign of 200 sites over 30 days, every site tallying every day, 90 % of the
doses entered on time through the batch path and 10 % late through the retro import. Before
the late import the backlog is exactly the late doses (per site, district and province,
counted here from the plan, not by the view's code); it shrinks as they land, and closes.

Small counts (1-3 doses a site-day, three people per site) keep it to seconds, and only the
backlog view is projected.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from intake.retro import Form, run_import
from ledger.values import Actor
from projections import Views, open_views
from projections.running import start_embedded
from tests.retro_files import row, write_csv

ADMIN = Actor("tests", "admin")
PROVINCES = {
    "01": ("Ba Đình", "Tây Hồ"),
    "79": ("Quận 1", "Quận 3"),
    "48": ("Hải Châu",),
    "31": ("Lê Chân", "Ngô Quyền"),
}
SITES, DAYS, FIRST_DAY = 200, 30, date(2021, 8, 1)
PFIZER = "EU/1/20/1528"


class Campaign:
    """The plan: each site's place, its three people, and each site-day's doses (on time or late)."""

    def __init__(self, seed: int = 20210801) -> None:
        rng = random.Random(seed)
        places = [(p, d) for p, districts in PROVINCES.items() for d in districts]
        self.sites: dict[str, tuple[str, str]] = {}  # site → (province, district)
        for n in range(SITES):
            province, district = places[n % len(places)]
            self.sites[f"{province}-TYT-{n:03d}"] = (province, district)
        self.days = [(FIRST_DAY + timedelta(days=k)).isoformat() for k in range(DAYS)]
        # (site, day) → [(record id, person number, late)]
        self.doses: dict[tuple[str, str], list[tuple[str, int, bool]]] = {}
        for site in self.sites:
            for day in self.days:
                given = rng.randint(1, 3)
                self.doses[(site, day)] = [(f"{site}/{day}/{j}", j, False) for j in range(given)]
        every = [(key, n) for key, doses in self.doses.items() for n in range(len(doses))]
        for key, n in rng.sample(every, len(every) // 10):  # exactly 10 % entered late
            record, person, _ = self.doses[key][n]
            self.doses[key][n] = (record, person, True)

    def person(self, site: str, j: int) -> dict[str, Any]:
        number = list(self.sites).index(site) * 3 + j
        province, district = self.sites[site]
        return {
            "full_name": f"Người Tiêm {number}",
            "birth_date": "1980-05-17",
            "sex": "female",
            "national_id": f"0011800{number:05d}",
            "phone": f"09{number:08d}",
            "province": province,
            "district": district,
            "address": None,
        }

    def late(self) -> list[tuple[str, str, str, int]]:
        return [
            (site, day, record, j)
            for (site, day), doses in self.doses.items()
            for record, j, late in doses
            if late
        ]

    def expected(self, landed: set[str]) -> dict[str, Counter[Any]]:
        """Backlog per site, district and province, and the totals, with the `landed` late
        records recorded: every site-day is tallied with all its doses."""
        found: dict[str, Counter[Any]] = {
            "site": Counter(),
            "district": Counter(),
            "province": Counter(),
            "total": Counter(),
        }
        for (site, _), doses in self.doses.items():
            province, district = self.sites[site]
            tallied = len(doses)
            recorded = sum(1 for record, _, late in doses if not late or record in landed)
            gap = max(tallied - recorded, 0)
            found["site"][site] += gap
            found["district"][(province, district)] += gap
            found["province"][province] += gap
            found["total"]["tallied"] += tallied
            found["total"]["recorded"] += recorded
            found["total"]["backlog"] += gap
        return found


@pytest.fixture
def backlog_views(store_url: str, ledger: Any) -> Iterator[Views]:
    projector = start_embedded(store_url, names=["backlog"])
    views = open_views(store_url, ledger=ledger)
    try:
        yield views
    finally:
        projector.stop()


def caught_up(views: Views, ledger: Any, timeout: float = 120) -> None:
    """The backlog view (the only one projected here) has applied every event so far."""
    head, deadline = ledger.head(), time.monotonic() + timeout
    while (views.backlog.position() or 0) < head:
        assert time.monotonic() < deadline, views.status()
        time.sleep(0.05)


def assert_backlog(views: Views, campaign: Campaign, landed: set[str]) -> None:
    expected = campaign.expected(landed)
    by_site = {r["site_id"]: r["backlog"] for r in views.backlog.by_site()}
    assert by_site == {s: expected["site"][s] for s in campaign.sites}
    by_district = {(r["province"], r["district"]): r["backlog"] for r in views.backlog.by_district()}
    assert by_district == dict(expected["district"])
    by_province = {r["province"]: r["backlog"] for r in views.backlog.by_province()}
    assert by_province == dict(expected["province"])
    total = views.backlog.total()
    assert (total["tallied"], total["recorded"], total["backlog"]) == (
        expected["total"]["tallied"],
        expected["total"]["recorded"],
        expected["total"]["backlog"],
    )
    assert total["difference"] == total["backlog"]  # never more recorded than tallied here
    assert (total["days"], total["sites"]) == (SITES * DAYS, SITES)
    # One province as its officials read it: its own sites only.
    assert {r["site_id"] for r in views.backlog.by_site(["48"])} == {
        s for s, (p, _) in campaign.sites.items() if p == "48"
    }


def test_a_campaigns_backlog_is_its_late_doses_and_closes_as_the_retro_import_lands(
    ledger, store_url, backlog_views, tmp_path
):
    campaign = Campaign()
    people: dict[tuple[str, int], str] = {}
    for site, (province, district) in campaign.sites.items():
        ledger.register_site(
            site, name=f"Trạm Y tế {site}", kind="official", province=province, district=district, actor=ADMIN
        )
        for j in range(3):
            people[(site, j)] = str(ledger.register_person(campaign.person(site, j), actor=ADMIN).person_id)
    for site in campaign.sites:
        reported = ledger.report_tallies(
            site,
            [{"day": day, "counts": {PFIZER: len(campaign.doses[(site, day)])}} for day in campaign.days],
            actor=ADMIN,
        )
        assert all(reported.recorded)

    on_time = [
        {
            "site_id": site,
            "site_record_id": record,
            "vaccine": PFIZER,
            "administered_at": day,
            "person_id": people[(site, j)],
        }
        for (site, day), doses in campaign.doses.items()
        for record, j, late in doses
        if not late
    ]
    for start in range(0, len(on_time), 1000):
        outcomes = ledger.record_doses(on_time[start : start + 1000], actor=ADMIN)
        assert {o.status for o in outcomes} == {"created"}
    caught_up(backlog_views, ledger)
    assert_backlog(backlog_views, campaign, landed=set())
    assert backlog_views.backlog.total()["backlog"] == len(campaign.late()) > 0

    late = campaign.late()
    landed: set[str] = set()
    for part, batch in enumerate((late[: len(late) // 2], late[len(late) // 2 :])):
        rows = []
        for site, day, record, j in batch:
            person = campaign.person(site, j)
            rows.append(
                row(
                    record,
                    full_name=person["full_name"],
                    birth_date="17/05/1980",
                    national_id=person["national_id"],
                    phone=person["phone"],
                    province=person["province"],
                    district=person["district"],
                    vaccine=PFIZER,
                    lot="",
                    administered_at=date.fromisoformat(day).strftime("%d/%m/%Y"),
                    dose_number="",
                    site_id=site,
                )
            )
        path = write_csv(tmp_path / f"late-{part}.csv", rows)
        form = Form(
            unit="Sở Y tế", attested_by="BS. Lê Văn Tám", document_ref=f"CV {part}/SYT", site_id=late[0][0]
        )
        result = run_import(ledger, path, form, actor=ADMIN)
        assert (result.status, result.counts.as_dict()["created"], result.error_count) == (
            "completed",
            len(batch),
            0,
        )
        landed |= {record for _, _, record, _ in batch}
        caught_up(backlog_views, ledger)
        assert_backlog(backlog_views, campaign, landed)
    assert backlog_views.backlog.total()["backlog"] == 0
