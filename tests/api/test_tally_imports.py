"""A tally file over HTTP: the templates, the upload through the same import endpoint, its row
report and its status read back."""

from __future__ import annotations

import csv
import io

from intake.retro.tally_rows import TALLY_COLUMNS
from ledger.values import Actor
from tests.retro_files import write_csv

ADMIN = Actor("tests", "admin")
SITE = "01-TYT-001"
PFIZER = "EU/1/20/1528"
FORM = {"unit": "TTYT Quận Ba Đình", "attested_by": "BS. Lê Văn Tám"}


def test_a_site_gets_the_tally_templates_and_imports_its_tallies_row_by_row(service, tmp_path):
    service.ledger.register_site(
        SITE, name="Trạm Y tế Ba Đình", kind="official", province="01", district="Ba Đình", actor=ADMIN
    )
    site = service.caller("site", sites=[SITE])
    template = site.get("/v1/imports/tally-template.csv")
    assert template.status_code == 200 and template.headers["content-type"].startswith("text/csv")
    header = next(csv.reader(io.StringIO(template.content.decode("utf-8-sig"))))
    assert header == [c.header for c in TALLY_COLUMNS]
    xlsx = site.get("/v1/imports/tally-template.xlsx")
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    assert service.caller("reporter").get("/v1/imports/tally-template.csv").status_code == 403

    path = write_csv(
        tmp_path / "so-lieu.csv",
        [
            header,
            [SITE, "01/08/2021", "Pfizer", "5", ""],
            [SITE, "01/08/2021", "Pfizer", "6", ""],
            ["79-TYT-001", "01/08/2021", "Pfizer", "6", "79"],
        ],
    )
    sent = site.post(
        "/v1/imports",
        files={"file": ("so-lieu.csv", path.read_bytes(), "text/csv")},
        data={**FORM, "site_id": SITE},
    )
    assert sent.status_code == 201, sent.text
    answer = sent.json()
    assert (answer["kind"], answer["created"], answer["rejected"]) == ("tallies", 1, 2)
    assert [(e["row"], e["column"]) for e in answer["errors"]] == [(3, "Tên vắc xin"), (4, "Mã cơ sở tiêm")]
    assert service.ledger.site_tallies(SITE)[0]["counts"] == {PFIZER: 5}
    status = site.get(sent.headers["location"]).json()
    assert (status["status"], status["created"], status["error_count"]) == ("completed", 1, 2)

    dry = site.post(
        "/v1/imports",
        params={"dry_run": "true"},
        files={"file": ("so-lieu.csv", path.read_bytes(), "text/csv")},
        data={**FORM, "site_id": SITE},
    )
    assert dry.status_code == 200 and (dry.json()["duplicate"], dry.json()["created"]) == (1, 0)
