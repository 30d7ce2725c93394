"""`POST /v1/cvrs` on both stores: each row's outcome, a file refused whole as a 422 naming why,
a site's token for its own sites only, the same file twice booking nothing new."""

from __future__ import annotations

import pytest

from config.settings import Settings
from intake.feeds import ALREADY_BOOKED, BOOKED, FLAGGED, NO_DOSE, REFUSED
from tests.cvrs_files import cvrs_file, cvrs_row
from tests.testdata import TESTDATA

CDC = TESTDATA / "cdc-iis-covid-vxu" / "test-resources"
TSV = {"Content-Type": "text/tab-separated-values"}


@pytest.fixture
def settings(store_url: str) -> Settings:
    """The CDC's US records name no Vietnamese province, and use the placeholder CVX codes."""
    return Settings(
        database_url=store_url, read_wait_seconds=5, feed_default_province="01", feed_test_codes=True
    )


def test_the_cdc_files_are_answered_row_by_row_and_twice_book_nothing_new(service):
    admin = service.caller("admin")
    good = admin.post("/v1/cvrs", content=(CDC / "testgood.txt").read_bytes(), headers=TSV)
    assert good.status_code == 200, good.text
    assert good.json()["counts"] == {BOOKED: 25, NO_DOSE: 8}
    first = good.json()["results"][0]
    assert (first["line"], first["vax_event_id"], first["status"]) == (1, "good1_sample1", NO_DOSE)
    assert first["issues"][0]["column"] == "vax_refusal"
    errors = admin.post("/v1/cvrs", content=(CDC / "testerror.txt").read_bytes())
    assert errors.status_code == 200
    assert errors.json()["counts"] == {REFUSED: 28, FLAGGED: 15, NO_DOSE: 9}
    head = service.ledger.head()
    again = admin.post("/v1/cvrs", content=(CDC / "testgood.txt").read_bytes())
    assert again.json()["counts"] == {ALREADY_BOOKED: 25, NO_DOSE: 8}
    assert service.ledger.head() == head


def test_a_file_that_is_no_cvrs_is_a_422_naming_why_and_books_nothing(service):
    admin = service.caller("admin")
    head = service.ledger.head()
    for name, why in (
        ("empty.txt", "the file is empty"),
        ("notacvrs.txt", "not tab-delimited"),
        ("testMissingHeaders.txt", "misses CVRS columns"),
    ):
        response = admin.post("/v1/cvrs", content=(CDC / name).read_bytes())
        assert response.status_code == 422, name
        assert response.headers["content-type"].startswith("application/problem+json")
        assert why in response.json()["detail"]
    assert service.ledger.head() == head


def test_a_site_token_books_its_own_sites_rows_only(service):
    site = service.caller("site", sites=["01-TYT-001"])
    data = cvrs_file(cvrs_row(admin_name="01-TYT-001"), cvrs_row(admin_name="79-TYT-001"))
    response = site.post("/v1/cvrs", content=data)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [BOOKED, REFUSED]
    assert results[1]["issues"] == [
        {"column": "admin_name", "reason": "this site is outside the sender's scope", "severity": "error"}
    ]
    assert results[1]["dose_id"] is None


def test_no_answer_quotes_a_personal_value(service):
    admin = service.caller("admin")
    data = cvrs_file(cvrs_row(recip_dob="2015-26-08", recip_first_name="Hương", ext_type="D"))
    response = admin.post("/v1/cvrs", content=data)
    assert response.json()["counts"] == {REFUSED: 1}
    assert "2015-26-08" not in response.text and "Hương" not in response.text
