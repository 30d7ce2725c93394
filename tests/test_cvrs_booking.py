"""Booking CDC CVRS flat files on both stores: the good file, every ERROR row of the error file
refused or flagged (listed one by one), files refused whole, each file twice booking nothing new."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from intake.cvrs import CvrsRefused
from intake.cvrs.booking import RowOutcome, book_file
from intake.feeds import ALREADY_BOOKED, BOOKED, FLAGGED, NO_DOSE, REFUSED
from ledger.values import Actor
from tests.cvrs_files import cvrs_file, cvrs_row
from tests.test_ledger import dose_events
from tests.testdata import TESTDATA

CDC = TESTDATA / "cdc-iis-covid-vxu" / "test-resources"
SENDER = Actor("cvrs-test", "admin")

# testerror.txt, row by row: the outcome, and a column its issues name. Every row has an
# ERROR in the CDC's report; none is booked without an issue. What is refused: whatever makes
# the dose, the person or the privacy of the extract wrong. What is flagged (booked, with a
# warning): what only US reporting needs (site type, race, county and zip codes). A refusal
# row is no dose whatever else it carries.
ERROR_ROWS = {
    "DATA001_recip_dob": (REFUSED, "recip_dob"),
    "DATA009_admin_date_1": (REFUSED, "admin_date"),
    "DATA001_admin_date_2": (REFUSED, "recip_dob"),
    "DATA006_recip_address_city": (REFUSED, "recip_address_city"),
    "DATA005_ext_type": (REFUSED, "ext_type"),
    "DATA004_pprl_id": (REFUSED, "pprl_id"),
    "DATA006_recip_first_name_not_redacted": (REFUSED, "recip_first_name"),
    "DATA005_recip_address_zip": (FLAGGED, "admin_type"),
    "DATA006_recip_first_name": (REFUSED, "recip_first_name"),
    "DATA007_recip_sex": (REFUSED, "recip_sex"),
    "DATA007_cvx": (REFUSED, "cvx"),
    "DATA008_mvx_maxLength": (REFUSED, "mvx"),
    "BUSR001_recip_address_county": (REFUSED, "cvx"),
    "BUSR002_admin_address_county": (FLAGGED, "admin_type"),
    "BUSR003_recip_address_zip": (REFUSED, "cvx"),
    "BUSR004_admin_address_zip": (NO_DOSE, "vax_refusal"),
    "BUSR005_recip_dob_lt_admin_date": (REFUSED, "recip_dob"),
    "BUSR007_recip_address_zip_implies_state": (FLAGGED, "admin_type"),
    "BUSR008_admin_address_zip_implies_state": (FLAGGED, "admin_type"),
    "BUSR009_recip_address_zip_implies_county": (FLAGGED, "admin_type"),
    "BUSR010_admin_address_zip_implies_county": (FLAGGED, "admin_type"),
    "BUSR011_recip_dob_not_future": (REFUSED, "recip_dob"),
    "BUSR012_admin_date_not_future": (REFUSED, "admin_date"),
    "BUSR013_vax_event_id_nodups": (REFUSED, "admin_date"),
    "DNTS002_ndc": (NO_DOSE, "vax_refusal"),
    "DNTS002_mvx": (NO_DOSE, "vax_refusal"),
    "DNTS002_lot_number": (NO_DOSE, "vax_refusal"),
    "DNTS002_vax_expiration": (NO_DOSE, "vax_refusal"),
    "DNTS002_vax_admin_site": (NO_DOSE, "vax_refusal"),
    "DNTS002_vax_route": (NO_DOSE, "vax_refusal"),
    "DNTS002_dose_num": (NO_DOSE, "vax_refusal"),
    "DNTS002_vax_series_complete": (NO_DOSE, "vax_refusal"),
    "DATA006_recip_first_name_missing": (REFUSED, "recip_first_name"),
    "DATA006_recip_middle_name_missing": (REFUSED, "recip_middle_name"),
    "DATA006_recip_last_name_missing": (REFUSED, "recip_last_name"),
    "REQD001_recip_dob_missing": (REFUSED, "recip_dob"),
    "REQD001_recip_sex_missing": (REFUSED, "recip_sex"),
    "DATA006_recip_address_street_missing": (REFUSED, "recip_address_street"),
    "DATA006_recip_address_street_2_missing": (REFUSED, "recip_address_street_2"),
    "DATA006_recip_address_city_missing": (REFUSED, "recip_address_city"),
    "REQD001_recip_race_1_missing": (FLAGGED, "recip_race_1"),
    "REQD001_recip_ethnicity_missing": (FLAGGED, "recip_ethnicity"),
    "REQD001_admin_date_missing": (REFUSED, "admin_date"),
    "REQD001_cvx_missing": (REFUSED, "cvx"),
    "REQD001_dose_num_missing": (FLAGGED, "dose_num"),
    "REQD001_vax_series_complete_missing": (FLAGGED, "vax_series_complete"),
    "REQD001_admin_type_missing": (FLAGGED, "admin_type"),
    "REQD001_responsible_org_missing": (FLAGGED, "responsible_org"),
    "REQD001_admin_name_missing": (FLAGGED, "admin_name"),
    "REQD001_vax_refusal_missing": (REFUSED, "vax_refusal"),
    "REQD001_cmorbid_status_missing": (FLAGGED, "cmorbid_status"),
    "REQD001_serology_missing": (FLAGGED, "serology"),
}


def _book(ledger, name: str, **options) -> list[RowOutcome]:
    options = {"default_province": "01", "test_codes": True, **options}
    return book_file(ledger, (CDC / name).read_bytes(), SENDER, **options)


def _doses(ledger, outcomes: list[RowOutcome]):
    people = {r.outcome.person_id for r in outcomes if r.outcome.person_id}
    return sorted(
        (e for p in people for e in dose_events(ledger, p)), key=lambda e: e.source["site_record_id"]
    )


def test_the_good_file_books_every_dose_and_no_refusal_and_twice_nothing_new(ledger):
    outcomes = _book(ledger, "testgood.txt")
    statuses = Counter(r.outcome.status for r in outcomes)
    assert statuses == {BOOKED: 25, NO_DOSE: 8}
    # The rows sent as refusals (vax_refusal Yes) are exactly the ones with no dose.
    refusals = {
        line.split("\t")[0]
        for line in (CDC / "testgood.txt").read_text().splitlines()[1:]
        if line.split("\t")[42] == "Yes"
    }
    assert {r.vax_event_id for r in outcomes if r.outcome.status == NO_DOSE} == refusals
    doses = _doses(ledger, outcomes)
    assert len(doses) == 25
    good4 = next(d for d in doses if d.source["site_record_id"] == "good4_sample4")
    assert (good4.vaccine, good4.administered_at, good4.lot, good4.site_id) == (
        "EU/1/20/1528",
        "2020-10-04",
        "M9999-05",
        "577689",
    )
    assert good4.source == {
        "kind": "feed",
        "standard": "cvrs",
        "message_id": "good4_sample4",
        "site_id": "577689",
        "site_record_id": "good4_sample4",
    }
    head = ledger.head()
    again = _book(ledger, "testgood.txt")
    assert Counter(r.outcome.status for r in again) == {ALREADY_BOOKED: 25, NO_DOSE: 8}
    assert ledger.head() == head


def test_every_error_row_of_the_error_file_is_refused_or_flagged_and_twice_nothing_new(ledger):
    report = json.loads((CDC / "testerror.txt.rpt.json").read_text())
    with_errors = {d["vax_event_id"] for d in report["detail"] if d["level"] == "ERROR"}
    assert with_errors == set(ERROR_ROWS)  # the report's ERROR rows are the ones listed above
    head = ledger.head()
    outcomes = _book(ledger, "testerror.txt")
    assert [r.vax_event_id for r in outcomes] == list(ERROR_ROWS)
    for r in outcomes:
        status, column = ERROR_ROWS[r.vax_event_id]
        assert (r.outcome.status, column in {i.where for i in r.outcome.issues}) == (status, True), r
    for r in outcomes:
        assert r.outcome.status != BOOKED, r.vax_event_id  # never booked silently
        if r.outcome.status in (REFUSED, NO_DOSE):
            assert r.outcome.dose_id is None
    flagged = [r for r in outcomes if r.outcome.status == FLAGGED]
    assert len(_doses(ledger, flagged)) == len(flagged) == 15
    after = ledger.head()
    assert after > head
    again = _book(ledger, "testerror.txt")
    assert [r.outcome.status for r in again] == [
        ALREADY_BOOKED if status == FLAGGED else status for status, _ in ERROR_ROWS.values()
    ]
    assert ledger.head() == after


@pytest.mark.parametrize("name", ["empty.txt", "notacvrs.txt", "testMissingHeaders.txt"])
def test_a_file_that_is_no_cvrs_books_nothing(ledger, name):
    head = ledger.head()
    with pytest.raises(CvrsRefused):
        _book(ledger, name)
    assert ledger.head() == head


def test_a_site_books_only_its_own_sites_rows(ledger):
    data = cvrs_file(cvrs_row(admin_name="01-TYT-001"), cvrs_row(admin_name="79-TYT-001"))
    outcomes = book_file(
        ledger, data, Actor("site-1", "site"), allowed_sites=["01-TYT-001"], default_province="01"
    )
    assert [r.outcome.status for r in outcomes] == [BOOKED, REFUSED]
    assert outcomes[1].outcome.issues[0].where == "admin_name"
    assert "outside the sender's scope" in outcomes[1].outcome.issues[0].reason


def test_a_dry_run_stores_nothing(ledger):
    head = ledger.head()
    outcomes = _book(ledger, "testgood.txt", dry_run=True)
    assert Counter(r.outcome.status for r in outcomes)[BOOKED] == 25
    assert ledger.head() == head


def test_the_command_books_a_file_and_says_why_a_file_is_refused(cli):
    code, out, _ = cli("cvrs", str(CDC / "testgood.txt"), "--province", "01", "--test-codes")
    assert code == 0 and "33 rows: 25 booked, 8 no dose" in out
    code, out, _ = cli("cvrs", str(CDC / "testgood.txt"), "--province", "01", "--test-codes", "--json")
    assert code == 0 and json.loads(out)["counts"] == {ALREADY_BOOKED: 25, NO_DOSE: 8}
    code, out, _ = cli("cvrs", str(CDC / "testerror.txt"), "--province", "01", "--test-codes")
    assert code == 2 and "recip_dob" in out
    code, _, err = cli("cvrs", str(CDC / "testMissingHeaders.txt"))
    assert code == 1 and "File refused, nothing booked: the header row misses CVRS columns" in err
    # Without --test-codes CDC's placeholder codes are refused, naming the column.
    code, out, _ = cli("cvrs", str(CDC / "testdefault.txt"), "--province", "01", "--json")
    assert code == 2
    refused = [r for r in json.loads(out)["results"] if r["status"] == REFUSED]
    assert any(i["column"] == "cvx" and "placeholder" in i["reason"] for r in refused for i in r["issues"])


@pytest.mark.parametrize(
    "name", ["testgood.txt", "testerror.txt", "testdefault.txt", "testgoodv1.txt", "testerrorv1.txt"]
)
def test_each_cdc_file_sent_twice_books_nothing_new(ledger, name):
    first = _book(ledger, name)
    head = ledger.head()
    again = _book(ledger, name)
    assert ledger.head() == head
    assert [r.outcome.status for r in again] == [
        ALREADY_BOOKED if r.outcome.status in (BOOKED, FLAGGED) else r.outcome.status for r in first
    ]
    assert [r.outcome.dose_id for r in again] == [r.outcome.dose_id for r in first]
