"""Reading a FHIR Bundle into feed records (no store), and the same dose sent as FHIR or as an
HL7-shaped feed record giving the same dose (on both stores)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from intake.feeds import BOOKED, FeedRecord, book
from intake.fhir.bundle import BundleRefused, person_details, read
from intake.fhir.validation import Fault, checked
from ledger.keys import IdKey
from ledger.values import Actor
from tests.test_ledger import dose_events
from tests.testdata import TESTDATA

IDS = IdKey(b"a test secret of sixteen bytes or more")
SHC = TESTDATA / "smart-health-cards" / "examples" / "example-00-a-fhirBundle.json"
CVX = "http://hl7.org/fhir/sid/cvx"


def shc() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SHC.read_text())
    return data


def test_a_smart_health_card_bundle_reads_as_three_records_of_one_patient():
    entries = read(shc(), ids=IDS, default_site="01-TYT-001")
    assert [(e.resource_type, e.action) for e in entries] == [("Patient", "none")] + [
        ("Immunization", "record")
    ] * 3
    records = [e.record for e in entries[1:] if e.record is not None]
    assert [(r.vaccine_code, r.code_system, r.administered_on, r.lot) for r in records] == [
        ("207", "CVX", "2021-01-01", "0000001"),
        ("207", "CVX", "2021-01-29", "0000007"),
        ("229", "CVX", "2022-09-05", "0000001"),
    ]
    assert {(r.full_name, r.birth_date, r.site_id, r.site_name) for r in records} == {
        ("John B. Anyperson", "1951-01-20", "01-TYT-001", "ABC General Hospital")
    }
    assert all(r.where["vaccine_code"] == "Immunization.vaccineCode" for r in records)
    assert entries[0].issues[0].severity == "information"  # referenced: booked with them


def test_an_immunization_without_identifier_is_a_record_of_a_keyed_digest():
    ids = [e.record.site_record_id for e in read(shc(), ids=IDS, default_site="S") if e.record]
    again = [e.record.site_record_id for e in read(shc(), ids=IDS, default_site="S") if e.record]
    other_secret = IdKey(b"another secret of sixteen bytes!")
    elsewhere = [e.record.site_record_id for e in read(shc(), ids=other_secret, default_site="S") if e.record]
    assert ids == again and len(set(ids)) == 3
    assert not set(ids) & set(elsewhere)  # keyed: nothing to recompute from name and birth date
    assert all(i is not None and i.startswith("fhir-") and "Anyperson" not in i for i in ids)


def test_the_doseledger_identifier_names_site_and_record():
    bundle = shc()
    bundle["entry"][1]["resource"]["identifier"] = [{"system": "urn:doseledger:site:79-BV-1", "value": "R9"}]
    bundle["entry"][2]["resource"]["identifier"] = [{"system": "urn:their-emr", "value": "E7"}]
    entries = read(bundle, ids=IDS, default_site="01-TYT-001")
    assert [(e.record.site_id, e.record.site_record_id) for e in entries[1:3] if e.record] == [
        ("79-BV-1", "R9"),
        ("01-TYT-001", "E7"),
    ]


def test_a_patient_reference_to_a_known_person_books_for_them():
    bundle = shc()
    resource = bundle["entry"][1]["resource"]
    resource["patient"] = {"reference": "Patient/6f1c1a8e-27a3-4c5e-9f0b-6b0e6d4f2a11"}
    entry = read(
        {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": resource}]},
        ids=IDS,
        default_site="S",
    )[0]
    assert entry.record is not None and str(entry.record.person_id) == "6f1c1a8e-27a3-4c5e-9f0b-6b0e6d4f2a11"


def test_a_vietnamese_patient_reads_in_the_ledgers_terms():
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "Nguyễn", "given": ["Thị", "Lan"], "text": "Nguyễn Thị Lan"}],
        "gender": "female",
        "birthDate": "1985-03-14",
        "identifier": [{"type": {"coding": [{"code": "NI"}]}, "value": "001185012345"}],
        "telecom": [{"system": "phone", "value": "0912345678"}],
        "address": [{"line": ["12 Phố Huế"], "district": "Hai Bà Trưng", "state": "Thành phố Hà Nội"}],
    }
    assert person_details(checked(patient, "Patient")) == {
        "full_name": "Nguyễn Thị Lan",
        "birth_date": "1985-03-14",
        "sex": "female",
        "national_id": "001185012345",
        "phone": "0912345678",
        "province": "01",
        "district": "Hai Bà Trưng",
        "address": "12 Phố Huế",
    }


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        ({"resourceType": "Immunization", "status": "completed"}, "Immunization.patient"),
        ({**shc()["entry"][1]["resource"], "lotNumber": 7}, "Immunization.lotNumber"),
        (
            {**shc()["entry"][1]["resource"], "occurrenceDateTime": "01/02/2021"},
            "Immunization.occurrenceDateTime",
        ),
        ({"resourceType": "Observation"}, "Immunization.resourceType"),
    ],
)
def test_the_model_names_the_path_at_fault(resource, expression):
    with pytest.raises(Fault) as fault:
        checked(resource, "Immunization")
    assert fault.value.expression == expression


@pytest.mark.parametrize(
    ("bundle", "expression"),
    [
        ([], "Bundle"),
        ({"resourceType": "Bundle", "type": "searchset"}, "Bundle.type"),
        ({"resourceType": "Bundle", "type": "batch", "entry": "x"}, "Bundle.entry"),
    ],
)
def test_a_bundle_we_do_not_take_is_refused_whole(bundle, expression):
    with pytest.raises(BundleRefused) as refused:
        read(bundle, ids=IDS, default_site=None)
    assert refused.value.issue.expression == expression


def test_the_same_dose_as_fhir_or_as_an_hl7_record_is_the_same_dose(ledger):
    """FHIR and HL7 share the booking: the same site record and fields give the same dose."""
    resource = copy.deepcopy(shc()["entry"][1]["resource"])
    resource["identifier"] = [{"system": "urn:doseledger:site:01-TYT-001", "value": "R1"}]
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [shc()["entry"][0], {"resource": resource}]}
    bundle["entry"][0]["resource"]["address"] = [{"state": "01"}]
    (fhir,) = [e.record for e in read(bundle, ids=IDS, default_site=None) if e.record is not None]
    hl7 = FeedRecord(
        "MSG-1",
        "hl7v2",
        "01-TYT-001",
        "John B. Anyperson",
        "1951-01-20",
        None,
        province="01",
        site_id="01-TYT-001",
        site_record_id="R1",
        vaccine_code="207",
        administered_on="2021-01-01",
        lot="0000001",
    )
    actor = Actor("tests", "admin")
    (first,) = book(ledger, [fhir], actor)
    head = ledger.head()
    (second,) = book(ledger, [hl7], actor)
    assert first.status == BOOKED and second.dose_id == first.dose_id
    assert ledger.head() == head  # the same record: nothing new
    (event,) = dose_events(ledger, first.person_id)
    assert (event.vaccine, event.administered_at, event.lot, event.site_id) == (
        "EU/1/20/1507",
        "2021-01-01",
        "0000001",
        "01-TYT-001",
    )
    assert event.source["standard"] == "fhir" and event.source["vaccine_code"] == "207"
