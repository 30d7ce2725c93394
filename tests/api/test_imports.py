"""Retro imports over HTTP: a unit sends its spreadsheet and gets each refused row back."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from openpyxl import load_workbook

from intake.retro.mappings import SYNTHEA
from tests.api.conftest import Caller
from tests.retro_files import FORM, people_rows, row, stored_doses, write_csv, write_xlsx
from tests.test_retro_synthea import covid_rows, shared_dir

LIMIT = 256 * 1024  # the import body limit here; the synthea files fit, 300 KiB does not
SITE = FORM.site_id
CSV = "text/csv"


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(settings, uploads):
    return settings.model_copy(update={"max_import_bytes": LIMIT, "import_dir": str(uploads)})


def the_form(**changes: Any) -> dict[str, str]:
    fields = {
        "unit": FORM.unit,
        "attested_by": FORM.attested_by,
        "document_ref": FORM.document_ref,
        "site_id": SITE,
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def send(caller: Caller, path: Path, *, dry_run: bool = False, name: str | None = None, **form: Any) -> Any:
    return caller.post(
        "/v1/imports",
        params={"dry_run": "true"} if dry_run else None,
        files={"file": (name or path.name, path.read_bytes(), CSV)},
        data=the_form(**form),
    )


def unit(service: Any) -> Caller:
    return service.caller("site", sites=[SITE])


def counts(answer: dict[str, Any]) -> tuple[int, ...]:
    return tuple(answer[k] for k in ("rows", "created", "duplicate", "rejected"))


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_a_unit_sends_its_csv_and_every_good_row_is_a_dose_from_that_import(service, tmp_path, uploads):
    path = write_csv(tmp_path / "tiem.csv", people_rows(3))
    response = send(unit(service), path)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["status"], counts(answer), answer["errors"]) == ("completed", (3, 3, 0, 0), [])
    assert response.headers["location"] == f"/v1/imports/{answer['import_id']}"
    doses = stored_doses(service.ledger)
    assert sorted(d.source["row"] for d in doses) == [2, 3, 4]
    assert {d.source["import_id"] for d in doses} == {answer["import_id"]}
    assert service.caller("auditor").get(response.headers["location"]).json()["created"] == 3
    assert list(uploads.iterdir()) == []  # the upload is gone once imported


def test_an_xlsx_file_goes_in_the_same_way_and_its_submitter_reads_it_back(service, tmp_path):
    caller = unit(service)
    path = write_xlsx(tmp_path / "tiem.xlsx", people_rows(2) + [row("X9", birth_date="31/02/1990")])
    response = send(caller, path)
    assert response.status_code == 201, response.text
    assert counts(response.json()) == (3, 2, 0, 1)
    status = caller.get(response.headers["location"]).json()
    assert (status["status"], status["file_name"], status["unit"], status["attested_by"]) == (
        "completed",
        "tiem.xlsx",
        FORM.unit,
        FORM.attested_by,
    )
    assert (status["created"], status["rejected"], status["read_fraction"]) == (2, 1, 1.0)
    assert status["errors"] == [
        {
            "row": 4,
            "column": "Ngày sinh",
            "value": "31/02/1990",
            "msg": status["errors"][0]["msg"],
            "severity": "error",
        }
    ]


def test_a_dry_run_reports_every_row_and_stores_nothing(service, tmp_path):
    caller = unit(service)
    path = write_csv(tmp_path / "tiem.csv", people_rows(2) + [row("B1", vaccine="Snake Oil")])
    before = service.ledger.head()
    response = send(caller, path, dry_run=True)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["dry_run"], answer["import_id"], counts(answer)) == (True, None, (3, 2, 0, 1))
    assert answer["errors"][0]["column"] == "Tên vắc xin"
    assert service.ledger.head() == before and stored_doses(service.ledger) == []
    assert "location" not in response.headers


def test_the_same_file_sent_again_is_all_duplicates(service, tmp_path):
    caller = unit(service)
    path = write_csv(tmp_path / "tiem.csv", people_rows(3) + [people_rows(1, start=7, record=False)[0]])
    first, again = send(caller, path).json(), send(caller, path).json()
    assert counts(first) == (4, 4, 0, 0)
    assert counts(again) == (4, 0, 4, 0)
    assert again["import_id"] != first["import_id"]  # each sending is its own attested record
    assert len(stored_doses(service.ledger)) == 4


def test_bad_rows_are_named_by_row_and_column_and_listed_in_full_as_csv(service, tmp_path):
    caller = unit(service)
    path = write_csv(
        tmp_path / "tiem.csv",
        [
            row("C1"),
            row("C2", administered_at="13/31/2021"),
            row("C3", full_name=""),
            row("C4", vaccine="Snake Oil", sex="?"),
        ],
    )
    response = send(caller, path)
    answer = response.json()
    assert counts(answer) == (4, 1, 0, 3)
    assert [(e["row"], e["column"], e["value"]) for e in answer["errors"]] == [
        (3, "Ngày tiêm", "13/31/2021"),
        (4, "Họ và tên", None),
        (5, "Giới tính", "?"),
        (5, "Tên vắc xin", "Snake Oil"),
    ]
    report = caller.get(response.headers["location"] + "/errors.csv")
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/csv")
    assert "attachment" in report.headers["content-disposition"]
    lines = csv_rows(report.text)
    assert lines[0] == ["row", "column", "value", "msg"]
    assert [line[:3] for line in lines[1:]] == [
        ["3", "Ngày tiêm", "13/31/2021"],
        ["4", "Họ và tên", ""],
        ["5", "Giới tính", "?"],
        ["5", "Tên vắc xin", "Snake Oil"],
    ]


def test_a_site_token_imports_only_rows_of_its_own_sites(service, tmp_path):
    caller = unit(service)
    path = write_csv(
        tmp_path / "tiem.csv", [row("D1"), row("D2", site_id="79-TYT-001"), row("D3", site_id=SITE)]
    )
    answer = send(caller, path).json()
    assert counts(answer) == (3, 2, 0, 1)
    assert answer["errors"] == [
        {
            "row": 3,
            "column": "Mã cơ sở tiêm",
            "value": "79-TYT-001",
            "msg": "is not one of the sites you may import for",
            "severity": "error",
        }
    ]
    # The form's own site outside the token's: refused whole, naming the field.
    refused = send(caller, path, site_id="79-TYT-001")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["loc"] == ["body", "site_id"]
    # An admin imports for any site: D1 and D2 now as 79-TYT-001's records, D3 already in.
    admin = send(service.caller("admin"), path, site_id="79-TYT-001").json()
    assert (admin["created"], admin["duplicate"], admin["rejected"]) == (2, 1, 0)


def test_an_upload_over_the_import_limit_is_413_and_leaves_nothing(service, tmp_path, uploads):
    caller = unit(service)
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (LIMIT + 1))
    declared = send(caller, big)  # Content-Length says so: refused before reading
    assert declared.status_code == 413, declared.text
    assert declared.headers["content-type"] == "application/problem+json"
    # Streamed without a length (chunked): refused part way, the part saved so far removed.
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
    ).encode()

    def chunks():
        yield head
        for _ in range(8):
            yield b"y" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    streamed = caller.post(
        "/v1/imports", content=chunks(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert streamed.status_code == 413, streamed.text
    assert list(uploads.iterdir()) == [] and stored_doses(service.ledger) == []


def test_a_file_that_is_not_a_spreadsheet_is_422_naming_file(service, tmp_path):
    caller = unit(service)
    for name, data in (
        ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4),
        ("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 512),
        ("broken.xlsx", b"PK\x03\x04" + b"\0" * 512),
        ("empty.csv", b""),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        response = send(caller, path)
        assert response.status_code == 422, (name, response.text)
        assert response.json()["errors"][0]["loc"] == ["body", "file"], name
    assert stored_doses(service.ledger) == []


def test_the_form_is_checked_naming_each_field(service, tmp_path):
    caller = unit(service)
    path = write_csv(tmp_path / "tiem.csv", [row("E1")])
    cases = [
        (dict(unit=None), ["body", "unit"]),
        (dict(attested_by="   "), ["body", "attested_by"]),
        (dict(mapping="Tên"), ["body", "mapping"]),
        (dict(mapping='{"columns": 5}'), ["body", "mapping"]),
        (dict(mapping='{"people": {"file": "p.csv", "key": "Id", "columns": {}}}'), ["body", "people"]),
        (dict(attested_as="x"), ["body", "attested_as"]),
        (dict(unit=["TTYT A", "TTYT B"]), ["body", "unit"]),  # sent twice
    ]
    for fields, loc in cases:
        response = send(caller, path, **fields)
        assert response.status_code == 422, (fields, response.text)
        assert response.json()["errors"][0]["loc"] == loc, fields
    no_file = caller.post(
        "/v1/imports", files={"document_ref": (None, "CV 1")}, data=the_form(document_ref=None)
    )
    assert no_file.json()["errors"][0]["loc"] == ["body", "file"]
    assert caller.post("/v1/imports", json=the_form()).status_code == 415
    assert stored_doses(service.ledger) == []


def test_wrong_role_is_403_and_no_token_401(service, tmp_path):
    path = write_csv(tmp_path / "tiem.csv", [row("F1")])
    for role, scope in (("auditor", {}), ("province", {"provinces": ["01"]}), ("reporter", {})):
        response = send(service.caller(role, **scope), path)
        assert response.status_code == 403, (role, response.text)
    assert send(service.anonymous(), path).status_code == 401
    # Refused before the body is read: a malformed one makes no difference.
    garbage = {"content": b"not a form", "headers": {"Content-Type": "multipart/form-data; boundary=x"}}
    assert service.caller("auditor").post("/v1/imports", **garbage).status_code == 403
    assert service.anonymous().post("/v1/imports", **garbage).status_code == 401
    assert unit(service).post("/v1/imports", **garbage).status_code == 400
    assert service.anonymous().get("/v1/imports/template.csv").status_code == 401
    assert service.caller("auditor").get("/v1/imports/template.xlsx").status_code == 403
    assert stored_doses(service.ledger) == []


def test_an_import_is_read_by_its_submitter_admins_and_auditors_and_is_404_to_others(service, tmp_path):
    submitter = unit(service)
    location = send(submitter, write_csv(tmp_path / "t.csv", [row("G1", vaccine="??")])).headers["location"]
    for reader in (submitter, service.caller("admin"), service.caller("auditor")):
        assert reader.get(location).json()["rejected"] == 1
        assert reader.get(location + "/errors.csv").status_code == 200
    for other in (unit(service), service.caller("site", sites=["79-TYT-001"])):
        for url in (location, location + "/errors.csv"):
            response = other.get(url)
            assert response.status_code == 404, response.text
            assert response.json()["errors"][0]["loc"] == ["path", "import_id"]
    assert service.caller("admin").get("/v1/imports/6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e").status_code == 404


def test_a_large_file_is_imported_in_the_background_and_polled_to_completion(service, tmp_path, uploads):
    service.app.state.settings = service.app.state.settings.model_copy(update={"import_background_bytes": 0})
    caller = unit(service)
    response = send(caller, write_csv(tmp_path / "big.csv", people_rows(6) + [row("H1", lot="=1+1")]))
    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["created"]) == ("running", 0)
    deadline = time.monotonic() + 60
    while True:
        status = caller.get(response.headers["location"]).json()
        if (status["status"] != "running" and not list(uploads.iterdir())) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (status["status"], status["rows"], status["created"], status["rejected"]) == ("completed", 7, 6, 1)
    assert list(uploads.iterdir()) == []
    report = csv_rows(caller.get(response.headers["location"] + "/errors.csv").text)
    assert report[1][:3] == ["8", "Số lô", "'=1+1"]  # a formula, defused for the spreadsheet it opens in


def test_a_dry_run_of_a_large_file_is_a_job_polled_to_completion_that_books_nothing(
    service, tmp_path, uploads
):
    service.app.state.settings = service.app.state.settings.model_copy(update={"import_background_bytes": 0})
    caller = unit(service)
    response = send(
        caller, write_csv(tmp_path / "big.csv", people_rows(6) + [row("H1", vaccine="??")]), dry_run=True
    )
    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["dry_run"]) == ("running", True)
    assert response.json()["import_id"] is not None
    deadline = time.monotonic() + 60
    while True:
        status = caller.get(response.headers["location"]).json()
        if (status["status"] != "running" and not list(uploads.iterdir())) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (status["status"], status["dry_run"], status["rows"], status["created"], status["rejected"]) == (
        "completed",
        True,
        7,
        6,
        1,
    )
    assert stored_doses(service.ledger) == []
    assert list(uploads.iterdir()) == []
    report = csv_rows(caller.get(response.headers["location"] + "/errors.csv").text)
    assert report[1][:2] == ["8", "Tên vắc xin"]


def test_a_file_of_another_shape_goes_in_through_a_mapping(service, tmp_path):
    path = write_csv(
        tmp_path / "other.csv",
        [
            ["Tên", "Sinh", "Tỉnh", "Vắc xin", "Ngày", "Mã"],
            ["Ngô Bảo Châu", "28/06/1972", "01", "Pfizer", "01/08/2021", "K1"],
            ["Ngô Bảo Châu", "28/06/1972", "01", "Pfizer", "22/13/2021", "K2"],
        ],
    )
    mapping = (
        "Tên=full_name,Sinh=birth_date,Tỉnh=province,Vắc xin=vaccine,Ngày=administered_at,Mã=site_record_id"
    )
    answer = send(unit(service), path, mapping=mapping).json()
    assert counts(answer) == (2, 1, 0, 1)
    assert answer["errors"][0]["column"] == "Ngày"


def test_a_synthea_export_and_its_people_file_go_in_through_the_shipped_mapping(service):
    synthea = shared_dir() / "testdata" / "synthea-csv"
    caller = unit(service)
    response = caller.post(
        "/v1/imports",
        data=the_form(mapping=SYNTHEA.read_text("utf-8")),
        files={
            "file": ("immunizations.csv", (synthea / "immunizations.csv").read_bytes(), CSV),
            "people": ("patients.csv", (synthea / "patients.csv").read_bytes(), CSV),
        },
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["rows"], answer["created"]) == (184, len(covid_rows(synthea))) == (184, 15)
    # The dose after its patient's death (DEATHDATE in the people file): booked, and flagged.
    flags = [e for e in answer["errors"] if e["severity"] == "flag"]
    assert answer["flag_count"] == len(flags) == 1 and flags[0]["value"].startswith("2021-08-27")
    # The provenance names the mapping's people file as the mapping gave it, not a server path.
    started = next(iter(service.ledger.events.get(UUID(answer["import_id"]), limit=1)))
    assert started.mapping["people"]["file"] == json.loads(SYNTHEA.read_text("utf-8"))["people"]["file"]


def test_the_blank_template_comes_as_csv_or_xlsx(service, tmp_path):
    caller = unit(service)
    as_csv = caller.get("/v1/imports/template.csv")
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert csv_rows(as_csv.content.decode("utf-8"))[0][:2] == ["Mã bản ghi", "Họ và tên"]
    as_xlsx = service.caller("admin").get("/v1/imports/template.xlsx")
    assert as_xlsx.status_code == 200 and 'filename="' in as_xlsx.headers["content-disposition"]
    (tmp_path / "mau.xlsx").write_bytes(as_xlsx.content)
    header = next(
        load_workbook(tmp_path / "mau.xlsx", read_only=True).worksheets[0].iter_rows(values_only=True)
    )
    assert header[:2] == ("Mã bản ghi", "Họ và tên")
