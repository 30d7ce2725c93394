"""The citizens' page in a real headless browser (tests/browser.py), on both stores.

A citizen types the certificate code printed at the site and their birth date, sees their doses
and both QR images load, files a claim, then checks its status with the id and code given;
every page is clean under axe-core and photographed in Vietnamese and English.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from api.app import create_app
from config.settings import Settings
from ledger.values import Actor
from projections import open_views
from projections.running import start_embedded
from tests.api.conftest import CLI, dose, lan
from tests.api.signed import run_keys_sign
from tests.browser import axe_violations, screenshot, serve, submit
from usecases.certificate_codes import CertificateCodes
from usecases.principals import issue_token

SITE = Actor("site-01", "site")


@pytest.fixture
def served(ledger, store_url: str) -> Iterator[str]:
    """The service over this test's store, its projector signing certificates (so QR codes exist)."""
    projector = start_embedded(store_url, sign=run_keys_sign(ledger))
    views = open_views(store_url, ledger=ledger)
    try:
        settings = Settings(database_url=store_url, read_wait_seconds=30)
        with serve(create_app(settings, ledger=ledger, views=views)) as url:
            yield url
    finally:
        views.close()
        projector.stop()


def signed_person(ledger: Any, served: str) -> UUID:
    """Lan with two doses, once her certificate is signed (the QR images exist)."""
    first = ledger.record_dose(actor=SITE, person=lan(), **dose("B1", administered_at="2021-07-01"))
    second = ledger.record_dose(actor=SITE, person_id=first.person_id, **dose("B2"))
    token, _ = issue_token(ledger, role="auditor", actor=CLI)
    url = f"{served}/v1/certificates/{first.person_id}/dcc?min_position={second.position}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
            ):
                return UUID(str(first.person_id))
        except urllib.error.HTTPError as error:
            # 409: not signed yet; 503: the views not there within the read wait
            assert error.code in (409, 503) and time.monotonic() < deadline, json.loads(error.read())
            time.sleep(0.1)


def shown(browser: Any, selector: str) -> Any:
    return WebDriverWait(browser, 15).until(ready.visibility_of_element_located((By.CSS_SELECTOR, selector)))


def typed(browser: Any, field_id: str, value: str) -> None:
    field = browser.find_element(By.ID, field_id)
    if field.get_attribute("type") == "date":  # a date input's keys follow the browser's locale
        browser.execute_script("arguments[0].value = arguments[1]", field, value)
    else:
        field.clear()
        field.send_keys(value)


def images_loaded(browser: Any) -> list[int]:
    return browser.execute_script(
        "return [...document.querySelectorAll('.qr img')].map(i => i.complete ? i.naturalWidth : 0)"
    )


def test_a_citizen_finds_their_certificate_files_a_claim_and_checks_it(served, ledger, browser):
    person_id = signed_person(ledger, served)
    code = CertificateCodes(ledger.ids).code(person_id)
    browser.delete_all_cookies()

    browser.get(f"{served}/citizen/")
    assert shown(browser, "h1").text == "Chứng nhận tiêm chủng của bạn"  # Vietnamese first
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "vi"
    assert axe_violations(browser) == []
    screenshot(browser, "citizen-lookup", "vi")

    typed(browser, "certificate_code", code.lower().replace("-", " "))  # as a person might type it
    typed(browser, "birth_date", "1985-03-14")
    submit(browser, browser.find_element(By.ID, "find-by-certificate"))
    shown(browser, "#doses")
    assert browser.current_url == f"{served}/citizen/certificate"
    assert str(person_id) not in browser.current_url
    rows = browser.find_elements(By.CSS_SELECTOR, "#doses tr.dose")
    assert [r.find_elements(By.TAG_NAME, "td")[3].text for r in rows] == ["2021-07-01", "2021-08-01"]
    assert browser.find_element(By.ID, "certificate-code").text == code
    WebDriverWait(browser, 15).until(lambda b: all(width > 100 for width in images_loaded(b)))
    assert len(images_loaded(browser)) == 2
    assert axe_violations(browser) == []
    screenshot(browser, "citizen-certificate", "vi")

    submit(browser, browser.find_element(By.CSS_SELECTOR, "a[hreflang=en]"))
    assert shown(browser, "h1").text == "Your vaccination certificate"
    WebDriverWait(browser, 15).until(lambda b: all(width > 100 for width in images_loaded(b)))
    assert browser.find_element(By.ID, "certificate-status").text == "Fully vaccinated"
    assert axe_violations(browser) == []
    screenshot(browser, "citizen-certificate", "en")

    # A claim with a value left out: named beside its field, in English; then sent whole.
    browser.find_element(By.ID, "kind-missing_dose").click()
    typed(browser, "vaccine", "Pfizer")
    typed(browser, "administered_at", "2021-09-15")
    submit(browser, browser.find_element(By.ID, "file"))
    assert shown(browser, "#site_id-error").text == "Enter this value."
    assert browser.find_element(By.ID, "site_id").get_attribute("aria-invalid") == "true"
    assert browser.find_element(By.ID, "vaccine").get_attribute("value") == "Pfizer"
    assert axe_violations(browser) == []
    screenshot(browser, "citizen-claim-error", "en")
    typed(browser, "site_id", "01-TYT-001")
    typed(browser, "contact", "0912345678")
    submit(browser, browser.find_element(By.ID, "file"))
    request_id = shown(browser, "#request-id").text
    request_code = browser.find_element(By.ID, "request-code").text
    assert ledger.correction(request_id)["person_id"] == str(person_id)
    assert axe_violations(browser) == []
    screenshot(browser, "citizen-filed", "en")

    browser.delete_all_cookies()  # another day, another browser: the id and code are enough
    browser.get(f"{served}/citizen/?lang=vi")
    typed(browser, "status_request_id", request_id)
    typed(browser, "status_code", request_code)
    submit(browser, browser.find_element(By.ID, "check-status"))
    status = shown(browser, "#status")
    assert status.get_attribute("data-status") == "open" and status.text == "Đã nhận, đang chờ xử lý"
    assert axe_violations(browser) == []
    screenshot(browser, "citizen-status", "vi")

    reads, _ = ledger.access_log.find(principal_id="citizen-page")
    assert {r.what for r in reads} == {
        "citizen.certificate",
        "citizen.certificate.dcc",
        "citizen.certificate.shc",
    }
    assert {r.person_id for r in reads} == {str(person_id)}


def test_the_lookup_page_in_english_is_accessible_with_its_errors_shown(served, browser):
    browser.delete_all_cookies()
    browser.get(f"{served}/citizen/?lang=en")
    typed(browser, "certificate_code", "00000-00000-00000-00000-00000-0")
    typed(browser, "birth_date", "1985-03-14")
    submit(browser, browser.find_element(By.ID, "find-by-certificate"))
    error = shown(browser, "#birth_date-error")
    assert error.text == "Nothing was found with these values. Check them and try again."
    assert axe_violations(browser) == []
    screenshot(browser, "citizen-lookup-not-found", "en")
    browser.get(f"{served}/citizen/")
    assert axe_violations(browser) == []
    screenshot(browser, "citizen-lookup", "en")
