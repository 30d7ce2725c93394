"""A CVRS file and its HL7 v2 twin give the same events (both stores): the CDC's paired files,
each booked into a store of its own, compared site record by site record, field by field."""

from __future__ import annotations

from typing import Any

import pytest

from intake.cvrs.booking import book_file
from intake.feeds import NO_DOSE
from intake.hl7v2.receiving import receive
from ledger.values import Actor
from tests.testdata import TESTDATA
from usecases.application import DoseLedger

CDC = TESTDATA / "cdc-iis-covid-vxu" / "test-resources"
SENDER = Actor("twins", "admin")
OPTIONS: dict[str, Any] = {"default_province": "01", "test_codes": True}
PERSON = ("full_name", "birth_date", "sex", "national_id", "phone", "province", "district", "address")


@pytest.fixture
def other_ledger(another_store_url: str):
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": another_store_url})
    yield ledger
    ledger.close()


def stored(ledger: DoseLedger, people: set) -> dict[str, dict[str, Any]]:
    """Each stored dose by its site record: the dose's fields, its person's, and its source but
    for what names the standard and the message."""
    found = {}
    for person_id in people:
        details = ledger.person(person_id).details
        for event in ledger.events.get(person_id):
            if type(event).__name__ != "DoseRecorded":
                continue
            source = {k: v for k, v in event.source.items() if k not in ("standard", "message_id")}
            found[event.source["site_record_id"]] = {
                "dose_id": event.dose_id,
                "vaccine": event.vaccine,
                "administered_at": event.administered_at,
                "lot": event.lot,
                "site_id": event.site_id,
                "source": source,
                "person": {k: details.get(k) for k in PERSON},
            }
    return found


def test_the_good_cvrs_file_gives_the_same_events_as_its_hl7_twin(ledger, other_ledger):
    from_txt = book_file(ledger, (CDC / "testgood.txt").read_bytes(), SENDER, **OPTIONS)
    acks = receive(other_ledger, (CDC / "testgood.hl7").read_bytes(), SENDER, **OPTIONS)
    assert [a.code for a in acks] == ["AA"] * 33
    hl7_outcomes = [o for a in acks for o in a.outcomes]
    assert [r.outcome.status for r in from_txt] == [o.status for o in hl7_outcomes]
    txt = stored(ledger, {r.outcome.person_id for r in from_txt if r.outcome.person_id})
    hl7 = stored(other_ledger, {o.person_id for o in hl7_outcomes if o.person_id})
    assert len(txt) == 25
    assert txt == hl7
    no_dose = {r.vax_event_id for r in from_txt if r.outcome.status == NO_DOSE}
    assert no_dose.isdisjoint(txt)
