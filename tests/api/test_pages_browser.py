"""The console in a real headless browser (Debian's chromium, selenium; tests/browser.py):
a province official signs in, reads the dashboard (the statistics API's numbers), reviews a
provisional site, answers a correction request and opens a person's record; bad input shows its
message beside the field. Each page passes axe (no serious or critical violation) in Vietnamese
and English, loads nothing from elsewhere, and is saved as a screenshot per language."""

from __future__ import annotations

from urllib.parse import urlparse

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from ledger.values import Actor
from tests.api.conftest import CLI, dose, lan
from tests.browser import axe_violations, requested_hosts, screenshot, submit
from usecases.principals import issue_token

UNLISTED = "01-UNLISTED-417"
SITE = Actor("site-01", "site")


def world(ledger) -> dict[str, str]:
    """Doses in two provinces, one at an unlisted site, and a correction request assigned to 01."""
    person = None
    for n, (day, where) in enumerate(
        [("2021-08-01", "01-TYT-001"), ("2021-08-01", UNLISTED), ("2021-08-03", "79-TYT-001")]
    ):
        details = lan(national_id=f"00118501234{n}", phone=f"091234567{n}", province=where[:2])
        receipt = ledger.record_dose(
            actor=SITE, person=details, **dose(f"B{n}", administered_at=day, site_id=where)
        )
        person = person or str(receipt.person_id)
    filed = ledger.request_correction(
        person,
        "missing_dose",
        {"vaccine": "Pfizer", "administered_at": "2021-08-29", "site_id": "01-TYT-001"},
    )
    ledger.assign_correction(filed.request_id, {"province": "01"})
    return {"person": person, "request": str(filed.request_id)}


def wait_for(browser, selector: str) -> None:
    WebDriverWait(browser, 20).until(ready.visibility_of_element_located((By.CSS_SELECTOR, selector)))


def checked(browser, served: str, name: str) -> None:
    """The page as it stands, in both languages: accessible, self-contained, photographed."""
    here = browser.current_url.split("?")[0]
    for lang in ("vi", "en"):
        browser.get(f"{here}?lang={lang}")
        wait_for(browser, "main")
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
        assert axe_violations(browser) == [], (name, lang)
        assert requested_hosts(browser) == {urlparse(served).netloc}, name
        screenshot(browser, name, lang)


def test_a_province_official_works_the_console_in_a_browser(served, browser, ledger):
    browser.delete_all_cookies()
    seeded = world(ledger)
    official = issue_token(ledger, role="province", provinces=["01"], actor=CLI)[0]
    api = {"Authorization": f"Bearer {official}"}
    # The projections have caught up with everything written so far before the pages read them.
    assert (
        httpx.get(f"{served}/v1/stats/doses", params={"min_position": ledger.head()}, headers=api).status_code
        == 200
    )

    browser.get(f"{served}/console/login")
    wait_for(browser, "#token")
    checked(browser, served, "console-login")
    browser.find_element(By.ID, "token").send_keys("dl_not-a-real-token")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "main button[type=submit]"))
    wait_for(browser, "#token-error")
    assert browser.find_element(By.ID, "token").get_attribute("aria-invalid") == "true"
    browser.find_element(By.ID, "token").send_keys(official)
    submit(browser, browser.find_element(By.CSS_SELECTOR, "main button[type=submit]"))
    wait_for(browser, "#doses-h")

    # The dashboard: the statistics API's numbers.
    cells = browser.find_elements(By.CSS_SELECTOR, "#doses-per-day td[data-day]")
    shown = {c.get_attribute("data-day"): int(c.get_attribute("textContent")) for c in cells}
    answered = httpx.get(f"{served}/v1/stats/doses", params={"group_by": "date"}, headers=api).json()
    assert shown == {row["date"]: row["doses"] for row in answered["rows"]} == {"2021-08-01": 2}
    checked(browser, served, "console-dashboard")

    # A provisional site: rejected without a reason, the message beside the field; then approved.
    browser.get(f"{served}/console/sites?lang=en")
    wait_for(browser, f"#kind-{UNLISTED}")
    checked(browser, served, "console-sites")
    form = browser.find_element(By.CSS_SELECTOR, f"form[action='/console/sites/{UNLISTED}/review']")
    form.find_element(By.CSS_SELECTOR, "input[value=rejected]").click()
    submit(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    wait_for(browser, f"#reason-error-{UNLISTED}")
    reason = browser.find_element(By.ID, f"reason-{UNLISTED}")
    assert reason.get_attribute("aria-invalid") == "true"
    assert reason.get_attribute("aria-describedby") == f"reason-error-{UNLISTED}"
    assert (
        "Give the reason for rejecting the site."
        in browser.find_element(By.ID, f"reason-error-{UNLISTED}").text
    )
    assert axe_violations(browser) == []
    screenshot(browser, "console-sites-error", "en")
    assert ledger.site(UNLISTED).kind == "provisional"
    form = browser.find_element(By.CSS_SELECTOR, f"form[action='/console/sites/{UNLISTED}/review']")
    form.find_element(By.CSS_SELECTOR, "input[value=approved]").click()
    form.find_element(By.CSS_SELECTOR, f"#kind-{UNLISTED} option[value=mobile]").click()
    submit(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    wait_for(browser, ".done")
    assert ledger.site(UNLISTED).kind == "mobile"

    # The correction request assigned to the official's province: answered.
    browser.get(f"{served}/console/corrections")
    wait_for(browser, f"#reason-{seeded['request']}")
    checked(browser, served, "console-corrections")
    form = browser.find_element(
        By.CSS_SELECTOR, f"form[action='/console/corrections/{seeded['request']}/resolve']"
    )
    form.find_element(By.CSS_SELECTOR, "input[value=rejected]").click()
    form.find_element(By.ID, f"reason-{seeded['request']}").send_keys("no such dose in the site's log")
    submit(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    wait_for(browser, ".done")
    assert ledger.correction(seeded["request"])["status"] == "rejected"

    # A person's record.
    browser.get(f"{served}/console/persons/{seeded['person']}")
    wait_for(browser, "#doses")
    assert "Nguyễn Thị Lan" in browser.find_element(By.TAG_NAME, "h1").text
    checked(browser, served, "console-person")

    # Sign out: the pages want a sign-in again.
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/console/logout'] button"))
    wait_for(browser, "#token")
    browser.get(f"{served}/console/")
    wait_for(browser, "#token")
