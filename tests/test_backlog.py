"""Sites' tallies on their streams, and the backlog view: tallied against recorded doses per
site and day, on SQLite and on PostgreSQL."""

from __future__ import annotations

import zlib
from datetime import date, timedelta

import pytest

from ledger.errors import Conflict, InvalidValue, LedgerError, UnknownVaccine
from ledger.keys import site_key
from ledger.rules import now_ict
from ledger.site import Site
from ledger.values import Actor
from projections.backlog import BacklogFigures
from projections.reconcile import reconcile
from projections.running import rebuild
from tests.readside import caught_up
from tests.test_ledger import lan

SYSTEM = Actor("tests", "admin")
HERE, THERE = "01-TYT-001", "01-TYT-002"
PFIZER, MODERNA = "EU/1/20/1528", "EU/1/20/1507"


def listed(ledger) -> None:
    ledger.register_site(
        HERE, name="Trạm Y tế Ba Đình", kind="official", province="01", district="Ba Đình", actor=SYSTEM
    )
    ledger.register_site(
        THERE, name="Trạm Y tế Tây Hồ", kind="official", province="01", district="Tây Hồ", actor=SYSTEM
    )


def give(ledger, record: str, day: str, site: str = HERE, phone: str | None = None) -> str:
    person = lan(national_id=None, phone=phone or f"09{zlib.crc32(record.encode()) % 10**8:08d}")
    receipt = ledger.record_dose(
        actor=SYSTEM,
        person=person,
        site_id=site,
        site_record_id=record,
        vaccine=PFIZER,
        administered_at=day,
    )
    return str(receipt.dose_id)


def test_a_tally_is_an_event_on_the_sites_stream_and_a_later_one_supersedes_it(ledger):
    listed(ledger)
    first = ledger.report_tallies(
        HERE, [{"day": "2021-08-01", "counts": {PFIZER: 5, "Spikevax": 2}}], actor=SYSTEM
    )
    assert first.recorded == [True] and first.days == ["2021-08-01"]
    again = ledger.report_tallies(
        HERE, [{"day": "2021-08-01", "counts": {PFIZER: 5, MODERNA: 2}}], actor=SYSTEM
    )
    assert again.recorded == [False]  # a retry: the same counts, nothing written
    assert ledger.head() == first.position
    later = ledger.report_tallies(
        HERE, [{"day": "2021-08-01", "counts": {PFIZER: 7}, "source": "vials_opened"}], actor=SYSTEM
    )
    assert later.recorded == [True] and later.position > first.position

    events = ledger.events.get(site_key(HERE))
    reported = [e for e in events if isinstance(e, Site.TallyReported)]
    assert [(e.day, e.counts, e.basis) for e in reported] == [
        ("2021-08-01", {PFIZER: 5, MODERNA: 2}, "tally_sheet"),
        ("2021-08-01", {PFIZER: 7}, "vials_opened"),
    ]
    (day,) = ledger.site_tallies(HERE)
    assert (day["day"], day["counts"], day["doses"], day["source"]) == (
        "2021-08-01",
        {PFIZER: 7},
        7,
        "vials_opened",
    )
    assert [r["counts"] for r in day["reports"]] == [{PFIZER: 5, MODERNA: 2}, {PFIZER: 7}]


def test_a_request_id_makes_a_retry_a_duplicate_even_after_a_later_tally(ledger):
    listed(ledger)
    sent = {"day": "2021-08-01", "counts": {PFIZER: 5}, "request_id": "sheet-1"}
    ledger.report_tallies(HERE, [sent], actor=SYSTEM)
    ledger.report_tallies(
        HERE, [{"day": "2021-08-01", "counts": {PFIZER: 9}, "request_id": "sheet-2"}], actor=SYSTEM
    )
    late_retry = ledger.report_tallies(HERE, [sent], actor=SYSTEM)
    assert late_retry.recorded == [False]
    assert ledger.site_tallies(HERE)[0]["counts"] == {PFIZER: 9}  # the retry did not roll it back
    with pytest.raises(Conflict) as refused:
        ledger.report_tallies(HERE, [{**sent, "counts": {PFIZER: 6}}], actor=SYSTEM)
    assert refused.value.field == "request_id"


def test_a_delayed_retry_without_a_request_id_never_undoes_a_later_correction(ledger, views):
    listed(ledger)
    older = {"day": "2021-08-01", "counts": {PFIZER: 100}}
    assert ledger.report_tallies(HERE, [older], actor=SYSTEM).recorded == [True]
    corrected = ledger.report_tallies(HERE, [{**older, "counts": {PFIZER: 120}}], actor=SYSTEM)
    assert corrected.recorded == [True]
    late_retry = ledger.report_tallies(HERE, [older], actor=SYSTEM)  # the first one, sent again late
    assert late_retry.recorded == [False] and ledger.head() == corrected.position
    (day,) = ledger.site_tallies(HERE)
    assert day["doses"] == 120 and [r["counts"][PFIZER] for r in day["reports"]] == [100, 120]
    caught_up(views, ledger)
    assert [(r["tallied"], r["backlog"]) for r in views.backlog.site_days(HERE)] == [(120, 120)]

    # Going back to the earlier figure on purpose takes a request id of its own.
    back = ledger.report_tallies(HERE, [{**older, "request_id": "recount-2021-08-01"}], actor=SYSTEM)
    assert back.recorded == [True]
    caught_up(views, ledger)
    assert ledger.site_tallies(HERE)[0]["doses"] == 100
    assert [r["tallied"] for r in views.backlog.site_days(HERE)] == [100]


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"day": "2999-01-01", "counts": {PFIZER: 1}}, "day", InvalidValue),
        ({"day": "01/08/2021", "counts": {PFIZER: 1}}, "day", InvalidValue),
        ({"day": "2021-08-01", "counts": {}}, "counts", InvalidValue),
        ({"day": "2021-08-01", "counts": {PFIZER: -1}}, f"counts.{PFIZER}", InvalidValue),
        ({"day": "2021-08-01", "counts": {PFIZER: 1.5}}, f"counts.{PFIZER}", InvalidValue),
        ({"day": "2021-08-01", "counts": {PFIZER: True}}, f"counts.{PFIZER}", InvalidValue),
        ({"day": "2021-08-01", "counts": {"Sputnik Z": 1}}, "counts.Sputnik Z", UnknownVaccine),
        ({"day": "2021-08-01", "counts": {PFIZER: 1, "Comirnaty": 2}}, "counts.Comirnaty", InvalidValue),
        ({"day": "2021-08-01", "counts": {PFIZER: 1}, "source": "guess"}, "source", InvalidValue),
    ],
)
def test_a_bad_tally_is_refused_naming_the_field_and_nothing_is_stored(ledger, fields, field, error):
    listed(ledger)
    head = ledger.head()
    with pytest.raises(error) as refused:
        ledger.report_tallies(HERE, [fields], actor=SYSTEM)
    assert refused.value.field == field
    # In a list, the item is named, and the good item before it is not stored either.
    with pytest.raises(LedgerError) as refused:
        ledger.report_tallies(HERE, [{"day": "2021-07-30", "counts": {PFIZER: 1}}, fields], actor=SYSTEM)
    assert refused.value.field == f"1.{field}"
    assert ledger.head() == head and ledger.site_tallies(HERE) == []


def test_a_site_missing_from_the_directory_is_listed_provisional_in_the_province_given(ledger):
    with pytest.raises(InvalidValue) as refused:
        ledger.report_tallies("MOBILE-7", [{"day": "2021-08-01", "counts": {PFIZER: 3}}], actor=SYSTEM)
    assert refused.value.field == "province"
    assert ledger.site("MOBILE-7") is None
    reported = ledger.report_tallies(
        "MOBILE-7", [{"day": "2021-08-01", "counts": {PFIZER: 3}}], province="79", actor=SYSTEM
    )
    assert reported.listed and reported.recorded == [True]
    site = ledger.site("MOBILE-7")
    assert (site.kind, site.province, site.review_status) == ("provisional", "79", "pending")


def test_the_backlog_is_tallied_minus_recorded_and_follows_voids_amendments_and_late_doses(
    ledger, store_url, views, projector
):
    listed(ledger)
    ledger.report_tallies(
        HERE,
        [{"day": "2021-08-01", "counts": {PFIZER: 4}}, {"day": "2021-08-02", "counts": {PFIZER: 1}}],
        actor=SYSTEM,
    )
    ledger.report_tallies(THERE, [{"day": "2021-08-01", "counts": {PFIZER: 2}}], actor=SYSTEM)
    first = give(ledger, "A1", "2021-08-01")
    give(ledger, "A2", "2021-08-01T15:30:00")
    give(ledger, "B1", "2021-08-01", site=THERE)
    give(ledger, "B2", "2021-08-01", site=THERE)
    give(ledger, "B3", "2021-08-01", site=THERE)  # more recorded than tallied
    give(ledger, "C1", "2021-08-03")  # a day not tallied: no claim
    caught_up(views, ledger)
    assert [
        (r["day"], r["tallied"], r["recorded"], r["backlog"], r["difference"])
        for r in views.backlog.site_days(HERE)
    ] == [
        ("2021-08-01", 4, 2, 2, 2),
        ("2021-08-02", 1, 0, 1, 1),
    ]
    sites = {r["site_id"]: r for r in views.backlog.by_site()}
    assert (sites[HERE]["backlog"], sites[HERE]["difference"], sites[HERE]["district"]) == (3, 3, "Ba Đình")
    assert (sites[THERE]["backlog"], sites[THERE]["difference"]) == (0, -1)
    assert views.backlog.total() == {
        "tallied": 7,
        "recorded": 5,
        "backlog": 3,
        "difference": 2,
        "days": 3,
        "sites": 2,
    }

    ledger.void_dose(first, "entered twice", actor=SYSTEM)  # 4 tallied, 1 recorded
    moved = give(ledger, "A3", "2021-08-05")
    ledger.amend_dose(
        moved, {"administered_at": "2021-08-02"}, "wrong day", actor=SYSTEM
    )  # 2021-08-02 closes
    ledger.report_tallies(HERE, [{"day": "2021-08-01", "counts": {PFIZER: 1}}], actor=SYSTEM)  # recounted: 1
    caught_up(views, ledger)
    assert [(r["day"], r["tallied"], r["recorded"], r["backlog"]) for r in views.backlog.site_days(HERE)] == [
        ("2021-08-01", 1, 1, 0),
        ("2021-08-02", 1, 1, 0),
    ]
    assert views.backlog.by_province(["01"])[0]["backlog"] == 0
    assert views.backlog.by_province(["79"]) == []

    live = {
        k: getattr(views.backlog, k)() for k in ("by_site", "by_district", "by_province", "by_age", "total")
    }
    # One statement's rows and total are those of the reads one at a time (nothing moved).
    for group_by, read in (("site", "by_site"), ("district", "by_district"), ("province", "by_province")):
        figures = views.backlog.figures(group_by, ["01"], date_from="2021-08-01")
        assert figures.rows == getattr(views.backlog, read)(["01"], "2021-08-01")
        assert figures.total == views.backlog.total(["01"], "2021-08-01")
    assert views.backlog.figures("age").rows == live["by_age"]
    first_page = views.backlog.figures("site", limit=1)
    assert (first_page.rows, first_page.total) == (live["by_site"][:1], live["total"])
    assert views.backlog.figures("province", ["79"]) == BacklogFigures([], dict.fromkeys(live["total"], 0))
    with pytest.raises(InvalidValue):
        views.backlog.figures("vaccine")
    assert reconcile(views).differences == []
    projector.stop()  # a rebuild runs alone
    rebuild(store_url, "backlog", progress=False)
    assert {k: getattr(views.backlog, k)() for k in live} == live
    assert reconcile(views).differences == []


def test_a_merge_counts_the_duplicates_doses_once_on_the_survivor_and_a_review_moves_the_site(
    ledger, store_url, views, projector
):
    listed(ledger)
    ledger.report_tallies(HERE, [{"day": "2021-08-01", "counts": {PFIZER: 3}}], actor=SYSTEM)
    survivor = ledger.register_person(lan(national_id=None, phone="0911111111"), actor=SYSTEM).person_id
    duplicate = ledger.register_person(lan(national_id=None, phone="0922222222"), actor=SYSTEM).person_id
    for pid, record in ((survivor, "M1"), (duplicate, "M2")):
        ledger.record_dose(
            actor=SYSTEM,
            person_id=pid,
            site_id=HERE,
            site_record_id=record,
            vaccine=PFIZER,
            administered_at="2021-08-01",
        )
    ledger.merge_persons(survivor, duplicate, "the same person", actor=SYSTEM)
    caught_up(views, ledger)
    assert [(r["recorded"], r["backlog"]) for r in views.backlog.site_days(HERE)] == [(2, 1)]

    ledger.review_site(HERE, "approved", province="79", district="Quận 1", actor=SYSTEM)
    caught_up(views, ledger)
    assert views.backlog.by_province(["01"]) == []
    assert [(r["province"], r["district"], r["backlog"]) for r in views.backlog.by_district(["79"])] == [
        ("79", "Quận 1", 1)
    ]
    assert reconcile(views).differences == []


def test_the_age_of_a_gap_is_the_days_since_the_day_tallied(ledger, views):
    listed(ledger)
    today = now_ict().date()
    ages = {0: 1, 7: 2, 8: 4, 30: 8, 31: 16, 90: 32, 91: 64, 400: 128}
    ledger.report_tallies(
        HERE,
        [{"day": (today - timedelta(days=d)).isoformat(), "counts": {PFIZER: n}} for d, n in ages.items()],
        actor=SYSTEM,
    )
    caught_up(views, ledger)
    by_age = views.backlog.by_age(today=today)
    assert [(r["age"], r["backlog"], r["days"]) for r in by_age] == [
        ("0-7", 3, 2),
        ("8-30", 12, 2),
        ("31-90", 48, 2),
        (">90", 192, 2),
    ]
    recent = views.backlog.by_age(date_from=today - timedelta(days=7), today=today)
    assert [r["backlog"] for r in recent] == [3, 0, 0, 0]
    assert views.backlog.by_age(provinces=["79"], today=today)[0]["days"] == 0
    assert date.fromisoformat(views.backlog.site_days(HERE)[0]["day"]) == today - timedelta(days=400)
