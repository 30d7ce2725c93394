"""FHIR R4 in and out over HTTP, on SQLite and on PostgreSQL: the SMART Health Card examples
posted and read back field by field, idempotence, voids, bad resources, the search."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from ledger.values import Actor
from tests.api.conftest import dose, lan
from tests.testdata import TESTDATA

SITE_ID = "01-TYT-001"
SITE = {"sites": [SITE_ID]}
SYSTEM = Actor("tests", "admin")
CVX = "http://hl7.org/fhir/sid/cvx"
EXAMPLES = TESTDATA / "smart-health-cards" / "examples"
VACCINATIONS = ["00", "01", "03"]


def example(number: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"example-{number}-a-fhirBundle.json").read_text())
    return data


@pytest.fixture
def site(service):
    service.ledger.register_site(
        SITE_ID, name="Trạm Y tế Ba Đình", kind="official", province="01", actor=SYSTEM
    )
    return service.caller("site", **SITE)


def post(caller, bundle: dict[str, Any]) -> dict[str, Any]:
    response = caller.post(
        "/v1/fhir", content=json.dumps(bundle), headers={"Content-Type": "application/fhir+json"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "transaction-response"
    assert len(body["entry"]) == len(bundle.get("entry", []))
    return body


def statuses(answer: dict[str, Any]) -> list[str]:
    return [e["response"]["status"] for e in answer["entry"]]


def issues(answer: dict[str, Any], index: int) -> list[tuple[str, str]]:
    outcome = answer["entry"][index]["response"]["outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    return [(i["expression"][0], i["severity"]) for i in outcome["issue"]]


def person_of(answer: dict[str, Any]) -> str:
    locations = [e["response"].get("location", "") for e in answer["entry"]]
    (patient,) = [loc for loc in locations if loc.startswith("Patient/")]
    return patient.removeprefix("Patient/")


def everything(caller, person_id: str) -> dict[str, Any]:
    response = caller.get(f"/v1/fhir/Patient/{person_id}/$everything")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    Bundle.model_validate(body)  # what we write is valid R4 (R4B's models are R4's here)
    return body


def immunizations(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Immunization"]


def cvx(immunization: dict[str, Any]) -> str:
    (code,) = [c["code"] for c in immunization["vaccineCode"]["coding"] if c["system"] == CVX]
    return str(code)


@pytest.mark.parametrize("number", VACCINATIONS)
def test_a_smart_health_card_bundle_round_trips_field_by_field(service, site, number):
    sent = example(number)
    answer = post(site, sent)
    sent_doses = immunizations(sent)
    assert statuses(answer) == ["200 OK"] + ["201 Created"] * len(sent_doses)
    read = everything(site, person_of(answer))
    (patient,) = [e["resource"] for e in read["entry"] if e["resource"]["resourceType"] == "Patient"]
    sent_patient = sent["entry"][0]["resource"]
    assert patient["birthDate"] == sent_patient["birthDate"]
    assert patient["name"][0]["text"].endswith(sent_patient["name"][0]["family"])
    got = immunizations(read)
    assert len(got) == len(sent_doses)
    for was, now in zip(sent_doses, got, strict=True):
        assert cvx(now) == cvx(was)
        assert now["occurrenceDateTime"] == was["occurrenceDateTime"]
        assert now["lotNumber"] == was["lotNumber"]
        assert now["performer"] == was["performer"]
        assert now["status"] == was["status"] == "completed"
        assert now["primarySource"] is True
        assert now["patient"]["reference"] == f"Patient/{patient['id']}"
        assert (
            len(now["identifier"]) == 1 and now["identifier"][0]["system"] == f"urn:doseledger:site:{SITE_ID}"
        )
    assert [i["protocolApplied"][0]["doseNumberPositiveInt"] for i in got] == list(range(1, len(got) + 1))


@pytest.mark.parametrize("number", VACCINATIONS)
def test_a_bundle_posted_twice_books_nothing_new(service, site, number):
    first = post(site, example(number))
    head = service.ledger.head()
    again = post(site, example(number))
    assert service.ledger.head() == head
    assert statuses(again) == ["200 OK"] * len(statuses(first))
    assert [e["response"].get("location") for e in again["entry"]] == [
        e["response"].get("location") for e in first["entry"]
    ]


def test_the_lab_example_books_nothing_and_says_why(service, site):
    head = service.ledger.head()
    sent = example("02")
    answer = post(site, sent)
    assert service.ledger.head() == head
    assert set(statuses(answer)) == {"200 OK"}
    kinds = [e["resource"]["resourceType"] for e in sent["entry"]]
    for index, kind in enumerate(kinds):
        found = issues(answer, index)
        if kind == "Patient":
            assert found == [("Patient", "warning")]
        else:
            assert found == [(f"Bundle.entry[{index}].resource", "warning")]
            assert (
                "not a vaccination"
                in answer["entry"][index]["response"]["outcome"]["issue"][0]["diagnostics"]
            )


def test_an_entered_in_error_immunization_voids_the_dose_once(service, site):
    person = person_of(post(site, example("00")))
    first = immunizations(everything(site, person))[0]
    void = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {**copy.deepcopy(first), "status": "entered-in-error"},
                "request": {"method": "PUT", "url": f"Immunization/{first['id']}"},
            }
        ],
    }
    answer = post(site, void)
    assert statuses(answer) == ["200 OK"]
    assert answer["entry"][0]["response"]["location"] == f"Immunization/{first['id']}"
    read = immunizations(everything(site, person))
    assert [i["status"] for i in read] == ["entered-in-error", "completed", "completed"]
    assert "protocolApplied" not in read[0]
    assert [i["protocolApplied"][0]["doseNumberPositiveInt"] for i in read[1:]] == [1, 2]
    head = service.ledger.head()
    assert statuses(post(site, void)) == ["200 OK"]
    assert service.ledger.head() == head


def test_an_entered_in_error_immunization_for_no_known_dose_is_refused(service, site):
    sent = immunizations(example("00"))[0]
    resource = {**sent, "status": "entered-in-error", "identifier": [{"system": "urn:x", "value": "nothing"}]}
    head = service.ledger.head()
    answer = post(site, {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": resource}]})
    assert statuses(answer) == ["422 Unprocessable Entity"]
    assert issues(answer, 0) == [("Immunization.identifier", "error")]
    assert service.ledger.head() == head


def bundle_of(*immunizations: dict[str, Any]) -> dict[str, Any]:
    patient = example("00")["entry"][0]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            patient,
            *({"fullUrl": f"resource:{n}", "resource": i} for n, i in enumerate(immunizations, 1)),
        ],
    }


def good(**changes: Any) -> dict[str, Any]:
    resource = copy.deepcopy(immunizations(example("00"))[0])
    resource.update(changes)
    return {k: v for k, v in resource.items() if v is not None}


@pytest.mark.parametrize(
    ("bad", "status", "expression"),
    [
        (good(occurrenceDateTime="2021-13-45"), "400 Bad Request", "Immunization.occurrenceDateTime"),
        (good(occurrenceDateTime=None), "400 Bad Request", "Immunization.occurrenceDateTime"),
        (
            good(vaccineCode={"coding": [{"system": "urn:other", "code": "207"}]}),
            "400 Bad Request",
            "Immunization.vaccineCode",
        ),
        # A CVX code the shared table does not know: refused by the booking, as an HL7 one is.
        (
            good(vaccineCode={"coding": [{"system": CVX, "code": "999"}]}),
            "422 Unprocessable Entity",
            "Immunization.vaccineCode",
        ),
        (good(status="bogus"), "400 Bad Request", "Immunization.status"),
        (good(patient={"reference": "resource:9"}), "400 Bad Request", "Immunization.patient"),
        (good(lotNumber=["not", "a", "string"]), "400 Bad Request", "Immunization.lotNumber"),
        # Given before the patient was born (1951-01-20): the ledger's own rule.
        (
            good(occurrenceDateTime="1950-01-01"),
            "422 Unprocessable Entity",
            "Immunization.occurrenceDateTime",
        ),
        (
            good(occurrenceDateTime="2999-01-01"),
            "422 Unprocessable Entity",
            "Immunization.occurrenceDateTime",
        ),
    ],
)
def test_a_bad_immunization_is_refused_naming_its_path_and_stores_nothing_while_a_good_one_books(
    service, site, bad, status, expression
):
    answer = post(site, bundle_of(bad, good(lotNumber="GOOD-1", occurrenceDateTime="2021-02-01")))
    assert statuses(answer) == ["200 OK", status, "201 Created"]
    assert issues(answer, 1) == [(expression, "error")]
    doses = immunizations(everything(site, person_of(answer)))
    assert [d["lotNumber"] for d in doses] == ["GOOD-1"]


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        (b"{not json", "Bundle"),
        (json.dumps({"resourceType": "Patient"}).encode(), "Bundle"),
        (json.dumps({"resourceType": "Bundle", "type": "document"}).encode(), "Bundle.type"),
        (json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": {}}).encode(), "Bundle.entry"),
    ],
)
def test_what_is_not_a_bundle_we_take_is_a_400_operation_outcome(service, site, body, expression):
    head = service.ledger.head()
    response = site.post("/v1/fhir", content=body, headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [expression]
    assert service.ledger.head() == head


def test_a_site_token_books_only_for_its_own_sites(service, site):
    elsewhere = good(location={"identifier": {"value": "79-BV-001"}})
    answer = post(site, bundle_of(elsewhere))
    assert statuses(answer) == ["200 OK", "403 Forbidden"]
    assert issues(answer, 1) == [("Immunization.location", "error")]


def test_a_not_done_immunization_books_no_dose(service, site):
    head = service.ledger.head()
    answer = post(site, bundle_of(good(status="not-done")))
    assert statuses(answer) == ["200 OK", "200 OK"]
    assert issues(answer, 1) == [("Immunization.status", "warning"), ("Immunization", "information")]
    assert service.ledger.head() == head


def test_a_historical_immunization_comes_back_as_reported_not_administered_here(service, site):
    origin = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/immunization-origin", "code": "recall"}]
    }
    answer = post(site, bundle_of(good(primarySource=False, reportOrigin=origin)))
    (dose,) = immunizations(everything(site, person_of(answer)))
    assert dose["primarySource"] is False
    assert dose["reportOrigin"]["coding"][0]["code"] == "record"


def test_the_search_filters_by_date_and_pages(service, site):
    person = person_of(post(site, example("00")))
    got = site.get("/v1/fhir/Immunization", params={"patient": f"Patient/{person}", "date": "ge2021-01-15"})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["type"] == "searchset" and body["total"] == 2
    assert [e["resource"]["occurrenceDateTime"] for e in body["entry"]] == ["2021-01-29", "2022-09-05"]
    ranged = site.get(
        "/v1/fhir/Immunization", params={"patient": person, "date": ["ge2021", "lt2022"]}
    ).json()
    assert ranged["total"] == 2
    seen: list[str] = []
    url: str | None = f"/v1/fhir/Immunization?patient={person}&_count=2"
    while url is not None:
        page = site.get(url).json()
        seen += [e["resource"]["occurrenceDateTime"] for e in page["entry"]]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert seen == ["2021-01-01", "2021-01-29", "2022-09-05"]
    bad = site.get("/v1/fhir/Immunization", params={"patient": person, "date": "after-2021"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "date"]


def test_a_province_token_reads_only_its_own_provinces_people(service, site):
    person = person_of(post(site, example("00")))
    own = service.caller("province", provinces=["01"]).get(f"/v1/fhir/Patient/{person}/$everything")
    other = service.caller("province", provinces=["79"]).get(f"/v1/fhir/Patient/{person}/$everything")
    assert (own.status_code, other.status_code) == (200, 403)


def test_an_unknown_person_is_404(service, site):
    response = site.get("/v1/fhir/Patient/00000000-0000-4000-8000-000000000000/$everything")
    assert response.status_code == 404


def test_a_merged_persons_record_points_to_the_survivor_which_holds_the_doses(service, site):
    kept = person_of(post(site, example("00")))
    sent = example("03")
    duplicate = person_of(post(site, sent))
    service.caller("admin").post(
        f"/v1/persons/{kept}/merge", json={"duplicate_person_id": duplicate, "reason": "the same person"}
    )
    (patient,) = [e["resource"] for e in everything(site, duplicate)["entry"]]
    assert patient["active"] is False
    assert patient["link"] == [{"other": {"reference": f"Patient/{kept}"}, "type": "replaced-by"}]
    survivor = immunizations(everything(site, kept))
    assert len(survivor) == 3 + len(immunizations(sent))
    assert {i["patient"]["reference"] for i in survivor} == {f"Patient/{kept}"}


def test_a_bundle_of_more_than_a_thousand_entries_is_refused_whole(service, site):
    entry = example("00")["entry"][1]
    response = site.post(
        "/v1/fhir", json={"resourceType": "Bundle", "type": "batch", "entry": [entry] * 1001}
    )
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry"]


def test_a_bad_patient_refuses_each_immunization_referencing_it_naming_the_patients_path(service, site):
    sent = bundle_of(good(), good(lotNumber="OTHER", occurrenceDateTime="2021-02-01"))
    sent["entry"][0] = copy.deepcopy(sent["entry"][0])
    sent["entry"][0]["resource"]["birthDate"] = "20-01-1951"
    head = service.ledger.head()
    answer = post(site, sent)
    assert statuses(answer) == ["200 OK", "400 Bad Request", "400 Bad Request"]
    assert issues(answer, 1) == issues(answer, 2) == [("Patient.birthDate", "error")]
    assert service.ledger.head() == head


def test_a_retro_imported_dose_is_not_primary_and_keeps_its_site_record(service, site):
    source = {"kind": "retro_import", "import_id": "00000000-0000-4000-8000-000000000001", "row": 2}
    (result,) = service.ledger.record_doses([dose("OLD-7", person=lan())], actor=SYSTEM, sources=[source])
    assert result.receipt is not None
    (immunization,) = immunizations(everything(site, str(result.receipt.person_id)))
    assert immunization["primarySource"] is False
    assert immunization["reportOrigin"]["coding"][0]["code"] == "record"
    assert immunization["identifier"] == [{"system": f"urn:doseledger:site:{SITE_ID}", "value": "OLD-7"}]
    assert immunization["performer"] == [{"actor": {"display": "Trạm Y tế Ba Đình"}}]  # the site's name


def test_an_erased_persons_record_keeps_the_doses_and_nothing_personal(service, site):
    person = person_of(post(site, example("00")))
    service.caller("admin").post(f"/v1/persons/{person}/erasure", json={"reason": "asked"})
    read = everything(site, person)
    (patient,) = [e["resource"] for e in read["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert "name" not in patient and "birthDate" not in patient
    assert len(immunizations(read)) == 3


def test_a_site_token_reads_no_contact_details_as_a_site_look_up_does(service, site):
    (result,) = service.ledger.record_doses([dose("C-1", person=lan())], actor=SYSTEM)
    assert result.receipt is not None
    url = f"/v1/fhir/Patient/{result.receipt.person_id}/$everything"
    as_site = site.get(url).json()["entry"][0]["resource"]
    as_province = service.caller("province", provinces=["01"]).get(url).json()["entry"][0]["resource"]
    assert as_province["identifier"][0]["value"] == lan()["national_id"]
    assert as_province["telecom"] == [{"system": "phone", "value": lan()["phone"]}]
    assert as_province["address"][0]["text"] == lan()["address"]
    assert "identifier" not in as_site and "telecom" not in as_site
    assert as_site["address"] == [{"state": "01", "country": "VN"}]
    assert (as_site["name"], as_site["birthDate"]) == (as_province["name"], as_province["birthDate"])
