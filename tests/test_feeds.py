"""Booking standard-neutral feed records: one outcome per record, nothing stored for a refusal."""

from __future__ import annotations

from dataclasses import replace

from intake.feeds import (
    ALREADY_BOOKED,
    BOOKED,
    FLAGGED,
    NO_DOSE,
    REFUSED,
    FeedIssue,
    FeedRecord,
    book,
    vaccine_of,
)
from ledger.keys import dose_id_for
from ledger.values import Actor
from tests.test_ledger import dose_events

SITE = Actor("site-token-1", "site")
WHERE = {
    "site_id": "RXA-11",
    "site_record_id": "ORC-3",
    "vaccine_code": "RXA-5",
    "administered_on": "RXA-3",
    "birth_date": "PID-7",
    "province": "PID-11",
    "completion": "RXA-20",
    "full_name": "PID-5",
}


def hoa(record: str = "R1", **overrides) -> FeedRecord:
    fields = dict(
        message_id=f"M-{record}",
        standard="hl7v2",
        sender="HN-001",
        full_name="Nguyễn Thị Hoa",
        birth_date="1990-02-03",
        sex="female",
        identifiers=(("HN-001", "P42"),),
        province="01",
        site_id="HN-001",
        site_record_id=record,
        vaccine_code="208",
        administered_on="2021-08-01",
        lot="FA1234",
        where=WHERE,
    )
    fields.update(overrides)
    return FeedRecord(**fields)  # type: ignore[arg-type]


def all_doses(ledger, outcomes):
    people = {o.person_id for o in outcomes if o.person_id}
    return [e for p in people for e in dose_events(ledger, p)]


def test_records_are_booked_in_one_transaction_with_their_source(ledger):
    # One person by their national id; without one, each site record registers a person, as
    # a site's JSON records do (the review queue lists the possible duplicates).
    hers = {"national_id": "001190012345"}
    outcomes = book(ledger, [hoa("R1", **hers), hoa("R2", administered_on="2021-09-01", **hers)], SITE)
    assert [o.status for o in outcomes] == [BOOKED, BOOKED]
    assert outcomes[0].position == outcomes[1].position
    assert outcomes[0].dose_id == dose_id_for("HN-001", "R1")
    doses = dose_events(ledger, outcomes[0].person_id)
    assert [(d.vaccine, d.administered_at, d.lot) for d in doses] == [
        ("EU/1/20/1528", "2021-08-01", "FA1234"),
        ("EU/1/20/1528", "2021-09-01", "FA1234"),
    ]
    assert doses[0].source == {
        "kind": "feed",
        "standard": "hl7v2",
        "message_id": "M-R1",
        "site_id": "HN-001",
        "site_record_id": "R1",
    }


def test_the_same_records_twice_book_nothing_new(ledger):
    records = [hoa("R1"), hoa("R2", administered_on="2021-09-01")]
    book(ledger, records, SITE)
    head = ledger.head()
    again = book(ledger, records, SITE)
    assert [o.status for o in again] == [ALREADY_BOOKED, ALREADY_BOOKED]
    assert ledger.head() == head


def test_refused_records_name_where_and_store_nothing(ledger):
    outcomes = book(
        ledger,
        [
            hoa("R1", vaccine_code="999"),
            hoa("R2", administered_on=None),
            hoa("R3", birth_date="2021-09-01"),
            hoa("R4", site_id="HCM-9"),
            hoa("R5", full_name=None),
            hoa("R6", found=(FeedIssue("PID", "malformed segment"),)),
        ],
        SITE,
        allowed_sites=["HN-001"],
    )
    assert [o.status for o in outcomes] == [REFUSED] * 6
    assert [[i.where for i in o.issues] for o in outcomes] == [
        ["RXA-5"],
        ["RXA-3"],
        ["PID-7"],
        ["RXA-11"],
        ["PID-5"],
        ["PID"],
    ]
    assert "not a COVID-19 vaccine" in outcomes[0].issues[0].reason
    assert "after the date of administration (RXA-3)" in outcomes[2].issues[0].reason
    assert "outside the sender's scope" in outcomes[3].issues[0].reason
    assert ledger.head() == 0


def test_a_refusal_or_a_dose_not_given_books_nothing(ledger):
    outcomes = book(
        ledger,
        [
            hoa("R1", completion="RE", refusal_reason="00"),
            hoa("R2", completion="NA"),
            hoa("R3", completion="PA"),
        ],
        SITE,
    )
    assert [o.status for o in outcomes] == [NO_DOSE] * 3
    assert all(o.issues[0].severity == "warning" and o.issues[0].where == "RXA-20" for o in outcomes)
    assert "refusal" in outcomes[0].issues[0].reason
    assert ledger.head() == 0


def test_the_province_comes_from_the_record_the_site_or_the_default(ledger):
    ledger.register_site("DN-7", name="Trạm Y tế", kind="official", province="48")
    outcomes = book(
        ledger,
        [
            hoa("R1", province="Hà Nội", site_id="HN-001"),
            hoa("R2", province=None, site_id="DN-7"),
            hoa("R3", province=None, site_id="NEW-1", full_name="Trần Văn Nam"),
            hoa("R4", province=None, site_id="NEW-2", full_name="Lê Văn Tám"),
        ],
        SITE,
    )
    assert [o.status for o in outcomes[:3]] == [BOOKED, BOOKED, REFUSED]
    assert outcomes[2].issues[0].where == "PID-11"
    assert ledger.person(outcomes[0].person_id).details["province"] == "01"
    assert ledger.person(outcomes[1].person_id).details["province"] == "48"
    again = book(ledger, [hoa("R3", province=None, site_id="NEW-1")], SITE, default_province="79")
    assert again[0].status == BOOKED
    assert ledger.person(again[0].person_id).details["province"] == "79"
    assert ledger.site("NEW-1").kind == "provisional"  # an unknown facility is listed, not refused


def test_cdc_placeholder_codes_only_with_test_codes():
    record = hoa(vaccine_code="900")
    refused = None
    try:
        vaccine_of(record)
    except Exception as e:  # noqa: BLE001 - the refusal's reason is checked below
        refused = e
    assert refused is not None and "CDC test placeholder" in str(refused)
    assert vaccine_of(record, test_codes=True) == "EU/1/20/1528"
    assert vaccine_of(hoa(vaccine_code="901"), test_codes=True) == "EU/1/20/1507"
    assert vaccine_of(hoa(vaccine_code="Comirnaty", code_system="EU")) == "EU/1/20/1528"


def test_an_amendment_and_a_void_change_the_dose_of_the_site_record(ledger):
    booked = book(ledger, [hoa("R1")], SITE)[0]
    amended = book(ledger, [hoa("R1", action="amend", lot="FB999")], SITE)[0]
    assert amended.status == BOOKED
    assert ledger.person(booked.person_id).dose(booked.dose_id)["lot"] == "FB999"
    assert book(ledger, [hoa("R1", action="amend", lot="FB999")], SITE)[0].status == ALREADY_BOOKED
    voided = book(ledger, [hoa("R1", action="void", vaccine_code=None)], SITE)[0]
    assert voided.status == BOOKED
    assert ledger.person(booked.person_id).dose(booked.dose_id)["voided"]
    assert book(ledger, [hoa("R1", action="void")], SITE)[0].status == ALREADY_BOOKED
    unknown = book(ledger, [hoa("R9", action="void")], SITE)[0]
    assert unknown.status == REFUSED and unknown.issues[0].where == "ORC-3"


def test_an_amendment_of_a_record_never_received_records_it(ledger):
    outcome = book(ledger, [hoa("R1", action="amend")], SITE)[0]
    assert outcome.status == BOOKED
    assert len(dose_events(ledger, outcome.person_id)) == 1


def test_a_record_with_warnings_is_booked_flagged(ledger):
    warned = hoa("R1", found=(FeedIssue("PID-11", "county does not match the state", "warning"),))
    outcome = book(ledger, [warned], SITE)[0]
    assert outcome.status == FLAGGED and outcome.issues[0].where == "PID-11"
    assert book(ledger, [warned], SITE)[0].status == ALREADY_BOOKED


def test_a_dry_run_stores_nothing(ledger):
    outcomes = book(ledger, [hoa("R1"), replace(hoa("R2"), vaccine_code="999")], SITE, dry_run=True)
    assert [o.status for o in outcomes] == [BOOKED, REFUSED]
    assert ledger.head() == 0


def test_matching_identities_finds_the_person_of_an_earlier_record(ledger):
    first = book(ledger, [hoa("R1", phone="0912345678")], SITE, match_identity=True)[0]
    second = book(
        ledger, [hoa("R2", phone="0912345678", administered_on="2021-09-01")], SITE, match_identity=True
    )[0]
    assert second.status == BOOKED and second.person_id == first.person_id
    apart = book(ledger, [hoa("R3", phone="0912345678", administered_on="2021-10-01")], SITE)[0]
    assert apart.person_id != first.person_id  # off: a new site record registers its person
    both = book(
        ledger, [hoa("R4", phone="0912345678", administered_on="2021-11-01")], SITE, match_identity=True
    )[0]
    assert both.status == REFUSED and both.issues[0].where == "PID-5"
    assert (
        both.issues[0].reason == "matches several people by name, birth date and phone: send the national id"
    )


def test_a_record_and_its_amendment_and_void_in_one_batch_apply_in_order(ledger):
    outcomes = book(
        ledger,
        [hoa("R1"), hoa("R1", action="amend", lot="FB999"), hoa("R2"), hoa("R2", action="void")],
        SITE,
    )
    assert [o.status for o in outcomes] == [BOOKED] * 4
    assert ledger.person(outcomes[0].person_id).dose(outcomes[0].dose_id)["lot"] == "FB999"
    assert ledger.person(outcomes[2].person_id).dose(outcomes[2].dose_id)["voided"]


def test_a_record_for_a_known_person_needs_none_of_their_details(ledger):
    first = book(ledger, [hoa("R1")], SITE)[0]
    known = hoa("R2", full_name=None, birth_date=None, province=None, person_id=first.person_id)
    again = book(ledger, [replace(known, administered_on="2021-09-01")], SITE)[0]
    assert again.status == BOOKED and again.person_id == first.person_id
    early = book(ledger, [replace(known, site_record_id="R3", administered_on="1989-01-01")], SITE)[0]
    assert early.status == REFUSED and early.issues[0].where == "RXA-3"


def test_echoed_fields_are_kept_in_the_source_as_sent(ledger):
    outcome = book(ledger, [hoa("R1", performer="Trạm Y tế Phường 1", echoed=("performer", "lot"))], SITE)[0]
    (event,) = dose_events(ledger, outcome.person_id)
    assert event.source["performer"] == "Trạm Y tế Phường 1" and event.source["lot"] == "FA1234"
