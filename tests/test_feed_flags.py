"""A dose a feed booked with warnings is a flag of the review queue, on SQLite and PostgreSQL:
every FLAGGED record of CDC's error files (HL7 and CVRS) shows with each warning's place and
reason, no cleanly booked dose does, a void or the sender's clean amendment clears it, a merge
carries it, and a rebuild gives the same flags."""

from __future__ import annotations

import json
from dataclasses import replace

import orjson

from intake.cvrs.booking import book_file
from intake.feeds import BOOKED, FLAGGED, FeedIssue, FeedRecord, Outcome, book
from intake.hl7v2 import receive
from ledger.values import Actor
from projections.running import rebuild
from tests.readside import assert_views_are_a_fresh_fold, caught_up
from tests.test_hl7 import ADMIN, CDC, CDC_OPTIONS, TESTERROR, cdc
from tests.test_ledger import lan

FEED = "feed-warning"
OFFICIAL = Actor("official-1", "admin")


def feed_flags(views) -> dict[str, dict]:
    return {f["dose_id"]: f for f in views.review.flags(kind=FEED)}


def placed(outcome: Outcome) -> list[dict[str, str]]:
    return [{"where": i.where, "reason": i.reason} for i in outcome.issues if i.severity == "warning"]


def assert_flagged_as_told(ledger, views, outcomes: list[Outcome]) -> None:
    """Each FLAGGED outcome is one flag (its person, site and warnings), and nothing else is."""
    shown = feed_flags(views)
    every_flag = {f["dose_id"] for f in views.review.flags()}
    for outcome in outcomes:
        if outcome.status == BOOKED:
            assert str(outcome.dose_id) not in every_flag
        if outcome.status != FLAGGED:
            continue
        flag = shown.pop(str(outcome.dose_id))
        stored = ledger.person(outcome.person_id)
        assert flag == {
            "person_id": str(outcome.person_id),
            "province": stored.details["province"],
            "kind": FEED,
            "dose_id": str(outcome.dose_id),
            "site_id": stored.dose(outcome.dose_id)["site_id"],
            "warnings": placed(outcome),
        }
        assert flag["warnings"], outcome
        text = orjson.dumps(flag).decode()
        for key in ("full_name", "birth_date", "national_id", "phone", "address"):
            value = stored.details[key]
            assert not value or value not in text, key  # no personal value in a flag
    assert shown == {}  # no flag without a FLAGGED outcome


def test_every_flagged_message_of_testerror_hl7_is_in_the_review_queue(ledger, store_url, views, projector):
    acks = receive(ledger, cdc("testerror.hl7"), ADMIN, **CDC_OPTIONS)
    outcomes = [a.outcomes[0] for a in acks]
    caught_up(views, ledger)
    flagged = {a.number for a in acks if str(a.outcomes[0].dose_id) in feed_flags(views)}
    assert flagged == {n for n, (_, status, _) in TESTERROR.items() if status == FLAGGED}
    assert len(flagged) == 27
    assert_flagged_as_told(ledger, views, outcomes)
    twelfth = feed_flags(views)[str(acks[11].outcomes[0].dose_id)]
    assert [w["where"] for w in twelfth["warnings"]] == ["RXA-17"]  # MVX AAAA
    assert_views_are_a_fresh_fold(views, ledger)

    live = views.review.flags()
    projector.stop()  # a rebuild runs alone
    rebuild(store_url, "review", progress=False)
    assert views.review.flags() == live
    assert_views_are_a_fresh_fold(views, ledger)


def test_every_flagged_row_of_testerror_txt_is_in_the_review_queue(ledger, store_url, views, projector):
    rows = book_file(
        ledger, (CDC / "testerror.txt").read_bytes(), ADMIN, default_province="01", test_codes=True
    )
    outcomes = [r.outcome for r in rows]
    assert sum(o.status == FLAGGED for o in outcomes) >= 15
    caught_up(views, ledger)
    assert_flagged_as_told(ledger, views, outcomes)
    site_type = next(r.outcome for r in rows if r.vax_event_id == "REQD001_admin_type_missing")
    assert feed_flags(views)[str(site_type.dose_id)]["warnings"] == [
        {"where": "admin_type", "reason": "is missing"}
    ]

    live = views.review.flags()
    projector.stop()
    rebuild(store_url, "review", progress=False)
    assert views.review.flags() == live
    assert_views_are_a_fresh_fold(views, ledger)


SEX = FeedIssue("PID-8", "sex code 'X' is not M, F or U: recorded as unknown", "warning", "unknown-code")
RECORD = FeedRecord(
    message_id="M1",
    standard="hl7v2",
    sender="HN-001",
    full_name="Nguyễn Thị Hương",
    birth_date="1990-02-03",
    sex=None,
    province="01",
    site_id="HN-001",
    site_record_id="R1",
    vaccine_code="208",
    administered_on="2021-08-01",
    lot="FA1234",
    where={"sex": "PID-8", "lot": "RXA-15"},
    found=(SEX,),
)


def test_a_void_or_the_senders_clean_amendment_clears_the_flag_and_a_merge_carries_it(
    ledger, store_url, views, projector
):
    (first,) = book(ledger, [RECORD], ADMIN)
    assert first.status == FLAGGED
    caught_up(views, ledger)
    assert feed_flags(views)[str(first.dose_id)]["warnings"] == [{"where": "PID-8", "reason": SEX.reason}]

    # An official's amendment changes a value, not what the sender was warned of: the flag stays.
    ledger.amend_dose(first.dose_id, {"lot": "FA1235"}, "lot misread", actor=OFFICIAL)
    caught_up(views, ledger)
    assert str(first.dose_id) in feed_flags(views)

    # The sender amends its record with another warning: the flag says that one now.
    lot = FeedIssue("RXA-15", "the lot number is not the manufacturer's format", "warning")
    (amended,) = book(
        ledger, [replace(RECORD, message_id="M2", action="amend", lot="FA1236", found=(lot,))], ADMIN
    )
    assert (amended.status, placed(amended)) == (FLAGGED, [{"where": "RXA-15", "reason": lot.reason}])
    caught_up(views, ledger)
    assert feed_flags(views)[str(first.dose_id)]["warnings"] == placed(amended)

    # The same record, sent clean: the flag is cleared.
    (clean,) = book(ledger, [replace(RECORD, message_id="M3", action="amend", lot="FA1237", found=())], ADMIN)
    assert clean.status == BOOKED
    caught_up(views, ledger)
    assert feed_flags(views) == {}

    # A second flagged record, merged into a person registered by the API: its flag moves along.
    (second,) = book(ledger, [replace(RECORD, message_id="M4", site_record_id="R2")], ADMIN)
    survivor = ledger.register_person(lan()).person_id
    ledger.merge_persons(survivor, second.person_id, "same person", actor=OFFICIAL)
    ledger.merge_persons(survivor, first.person_id, "same person", actor=OFFICIAL)
    caught_up(views, ledger)
    moved = feed_flags(views)
    assert list(moved) == [str(second.dose_id)]  # the cleared one stays cleared on the survivor
    assert moved[str(second.dose_id)]["person_id"] == str(survivor)
    assert_views_are_a_fresh_fold(views, ledger)

    # A void takes the dose, and its flag, away.
    (voided,) = book(ledger, [replace(RECORD, message_id="M5", site_record_id="R2", action="void")], ADMIN)
    assert (voided.status, voided.issues) == (BOOKED, ())
    caught_up(views, ledger)
    assert feed_flags(views) == {}
    (again,) = book(ledger, [replace(RECORD, message_id="M6", site_record_id="R3")], ADMIN)
    caught_up(views, ledger)
    live = views.review.flags()
    assert json.dumps(live).count(FEED) == 1

    projector.stop()
    rebuild(store_url, "review", progress=False)
    assert views.review.flags() == live
    assert_views_are_a_fresh_fold(views, ledger)
