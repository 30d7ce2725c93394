"""The auditor's page in a real headless browser (Debian's chromium, driven by selenium).

The service runs on uvicorn on a free loopback port (tests/browser.py, the browser tests'
harness); the browser signs in through the form, opens a person's page and sees the timeline,
with what each event changed highlighted. Each page passes axe (no serious or critical violation).
Set DOSELEDGER_DOCS_SCREENSHOT=docs/audit-page.png to refresh the README's screenshot.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from ledger.values import Actor
from tests.api.conftest import CLI, dose, lan
from tests.browser import axe_violations, screenshot, submit
from usecases.principals import issue_token

SITE = Actor("site-01", "site")
MARK = "rgba(255, 229, 138, 1)"  # the page's highlight colour (--mark in audit_base.html)


def amended_record(ledger: Any) -> Any:
    """Lan: two doses; the first one's lot corrected; the second voided (entered twice)."""
    first = ledger.record_dose(actor=SITE, person=lan(), **dose("A1"))
    second = ledger.record_dose(
        actor=SITE, person_id=first.person_id, **dose("A2", administered_at="2021-08-29")
    )
    ledger.amend_dose(first.dose_id, {"lot": "FB9999"}, "lot misread from the vial", actor=SITE)
    ledger.void_dose(second.dose_id, "entered twice", actor=SITE)
    return first


def test_an_auditor_signs_in_and_sees_each_event_with_what_it_changed_highlighted(served, ledger, browser):
    record = amended_record(ledger)
    token, auditor = issue_token(ledger, role="auditor", name="Thanh tra Sở Y tế", actor=CLI)
    browser.delete_all_cookies()

    browser.get(f"{served}/audit/persons/{record.person_id}")
    field = WebDriverWait(browser, 10).until(ready.visibility_of_element_located((By.ID, "token")))
    assert browser.current_url.startswith(f"{served}/audit/login")
    assert axe_violations(browser) == []
    field.send_keys(token)
    submit(browser, field, by_form=True)
    WebDriverWait(browser, 10).until(ready.visibility_of_element_located((By.CSS_SELECTOR, "li.event")))

    assert browser.current_url == f"{served}/audit/persons/{record.person_id}"
    rows = browser.find_elements(By.CSS_SELECTOR, "ol.timeline > li.event")
    assert [r.get_attribute("data-type") for r in rows] == [
        "Registered",
        "DoseRecorded",
        "DoseRecorded",
        "DoseAmended",
        "DoseVoided",
    ]
    assert all(r.is_displayed() for r in rows)

    amended = rows[3]
    assert "lot misread from the vial" in amended.text and "site-01" in amended.text
    change = amended.find_element(By.CSS_SELECTOR, "li.change")
    assert change.text == "dose 1: lot: FA1234 → FB9999"
    lot_after = amended.find_element(By.CSS_SELECTOR, "tr.dose td[data-field=lot]")
    assert lot_after.text == "FB9999" and lot_after.value_of_css_property("background-color") == MARK
    untouched = rows[3].find_elements(By.CSS_SELECTOR, "tr.dose td[data-field=lot]")[1]
    assert untouched.value_of_css_property("background-color") != MARK
    voided = rows[4].find_element(By.CSS_SELECTOR, "tr.dose.voided")
    assert "line-through" in voided.find_elements(By.TAG_NAME, "td")[1].value_of_css_property(
        "text-decoration"
    )
    assert "complete → partial" in rows[4].text

    # Accessible, voided doses' grey included (--void: 4.5:1 or more on white).
    assert axe_violations(browser) == []
    shot = screenshot(browser, "audit-page", "en")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("DOSELEDGER_DOCS_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["DOSELEDGER_DOCS_SCREENSHOT"])

    reads, _ = ledger.access_log.find(principal_id=str(auditor.id))
    assert [(r.what, r.person_id) for r in reads] == [("audit.page", str(record.person_id))]


def test_the_page_refuses_a_site_token_and_keeps_no_cookie(served, ledger, browser):
    record = amended_record(ledger)
    token, _ = issue_token(ledger, role="site", sites=["01-TYT-001"], actor=CLI)
    browser.delete_all_cookies()
    browser.get(f"{served}/audit/login?next=/audit/persons/{record.person_id}")
    field = WebDriverWait(browser, 10).until(ready.visibility_of_element_located((By.ID, "token")))
    field.send_keys(token)
    submit(browser, field, by_form=True)
    alert = WebDriverWait(browser, 10).until(
        ready.visibility_of_element_located((By.CSS_SELECTOR, "[role=alert]"))
    )
    assert alert.text == "a site token may not open the audit pages"
    assert browser.get_cookies() == []
