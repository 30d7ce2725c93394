"""Another system's export (Synthea's CSV), read through a column mapping, and the CLI."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from cli.main import main
from intake.retro import parse_mapping, run_import
from intake.retro.mappings import SYNTHEA
from tests.retro_files import FORM, UNIT, row, stored_doses, write_csv
from tests.testdata import TESTDATA

COVID_CVX = {"207", "208"}  # what the sample holds (see shared/testdata/SOURCES.md §4)


def shared_dir() -> Path:
    """shared/, the folder of the third-party test data (tests/testdata.py finds it). Missing,
    the test fails: these acceptance files are never optional."""
    if not (TESTDATA / "synthea-csv" / "immunizations.csv").is_file():
        pytest.fail(f"shared test data not found at {TESTDATA}: set DOSELEDGER_TESTDATA")
    return TESTDATA.parent


@pytest.fixture
def synthea() -> Path:
    return shared_dir() / "testdata" / "synthea-csv"


def covid_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "immunizations.csv").open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["CODE"] in COVID_CVX]


@pytest.mark.parametrize("read_apart", [False, True], ids=["read-here", "read-apart"])
def test_a_synthea_export_goes_in_through_a_mapping_and_other_vaccines_are_refused(
    ledger, synthea, read_apart
):
    mapping = parse_mapping(str(SYNTHEA))
    result = run_import(
        ledger, synthea / "immunizations.csv", FORM, actor=UNIT, mapping=mapping, read_apart=read_apart
    )
    expected = covid_rows(synthea)
    assert (result.counts.rows, result.counts.created) == (184, len(expected)) == (184, 15)
    assert result.counts.rejected == 184 - 15
    refused = {e["row"] for e in result.errors if e["column"] == "CODE"}
    assert len(refused) == 169
    assert all("not a COVID-19 vaccine" in e["msg"] for e in result.errors if e["column"] == "CODE")
    # Per patient and per product, the ledger holds what the file says.
    doses = stored_doses(ledger)
    by_patient = Counter(ledger.person(d.originator_id).details["full_name"] for d in doses)
    with (synthea / "patients.csv").open(encoding="utf-8") as f:
        names = {
            p["Id"]: " ".join(x for x in (p["FIRST"], p["MIDDLE"], p["LAST"]) if x) for p in csv.DictReader(f)
        }
    assert by_patient == Counter(names[r["PATIENT"]] for r in expected)
    assert Counter(d.vaccine for d in doses) == Counter(
        {
            "EU/1/20/1528": sum(r["CODE"] == "208" for r in expected),
            "EU/1/20/1507": sum(r["CODE"] == "207" for r in expected),
        }
    )
    assert sorted(d.administered_at for d in doses) == sorted(_ict(r["DATE"]) for r in expected)
    # A dose dated after the patient's death is booked as sent (the counts above) and flagged.
    with (synthea / "patients.csv").open(encoding="utf-8") as f:
        died = {p["Id"]: p["DEATHDATE"] for p in csv.DictReader(f) if p["DEATHDATE"]}
    after_death = [r for r in expected if r["PATIENT"] in died and r["DATE"][:10] > died[r["PATIENT"]]]
    flags = [e for e in result.errors if e.get("severity") == "flag"]
    assert result.flag_count == len(flags) == len(after_death) == 1
    assert [(e["value"], e["column"]) for e in flags] == [(r["DATE"], "DATE") for r in after_death]
    assert f"after the person's death ({died[after_death[0]['PATIENT']]}" in flags[0]["msg"]
    assert len({e["row"] for e in result.errors if "severity" not in e}) == 169  # the flag apart
    # Sent again: every COVID row a duplicate.
    again = run_import(ledger, synthea / "immunizations.csv", FORM, actor=UNIT, mapping=mapping)
    assert (again.counts.created, again.counts.duplicate) == (0, 15)


def _ict(utc: str) -> str:
    from datetime import datetime

    from ledger.rules import ICT

    return datetime.fromisoformat(utc).astimezone(ICT).isoformat()


def test_the_cli_imports_with_an_inline_mapping_and_writes_the_error_report(
    store_url, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", store_url)  # main() sets it; restored after
    path = write_csv(
        tmp_path / "other.csv",
        [
            ["Tên", "Sinh", "Tỉnh", "Vắc xin", "Ngày", "Mã"],
            ["Ngô Bảo Châu", "28/06/1972", "01", "Pfizer", "01/08/2021", "K1"],
            ["Ngô Bảo Châu", "28/06/1972", "01", "Pfizer", "2021-08-22", "K2"],
            ["Ngô Bảo Châu", "28/06/1972", "01", "Pfizer", "22/13/2021", "K3"],
        ],
    )
    base = [
        "--database-url",
        store_url,
        "import",
        str(path),
        "--unit",
        "TTYT Đống Đa",
        "--attested-by",
        "BS. Hoa",
        "--site",
        "HN-DD-01",
        "--map",
        "Tên=full_name,Sinh=birth_date,Tỉnh=province,Vắc xin=vaccine,Ngày=administered_at,Mã=site_record_id",
    ]
    assert main(base + ["--dry-run"]) == 2
    assert "Dry run" in capsys.readouterr().out
    assert main(base) == 2
    out = capsys.readouterr().out
    assert "22/13/2021" in out and "Import" in out
    report = (tmp_path / "other.csv.errors.csv").read_text("utf-8-sig").splitlines()
    assert report[1].startswith("4,Ngày,22/13/2021,")
    assert main(base) == 2  # again: the two good rows are duplicates, the bad one still refused
    assert "│    3 │       0 │         2 │        1 │" in capsys.readouterr().out


def test_the_cli_writes_the_template_and_refuses_a_file_it_cannot_use(
    store_url, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", store_url)  # main() sets it; restored after
    assert main(["import", "--template", str(tmp_path / "mau.xlsx")]) == 0
    assert main(["import", "--template", str(tmp_path / "mau.csv")]) == 0
    assert (tmp_path / "mau.xlsx").read_bytes()[:2] == b"PK"
    empty = main(
        [
            "--database-url",
            store_url,
            "import",
            str(tmp_path / "mau.csv"),
            "--unit",
            "U",
            "--attested-by",
            "A",
            "--site",
            "S",
        ]
    )
    assert empty == 0
    assert main(["--database-url", store_url, "import", str(tmp_path / "mau.csv")]) == 1
    bad = write_csv(tmp_path / "x.csv", [row()], headers=["a"] * 13)
    assert main(["--database-url", store_url, "import", str(bad), "--unit", "U", "--attested-by", "A"]) == 1
    assert "no header row" in capsys.readouterr().err
