"""The console's second half in a real headless browser (tests/browser.py): a province official
reads the backlog and coverage (the API's numbers), resolves a flag, reads a locality's people
and downloads them as an XLSX that reads back, merges two duplicates of its province and undoes
it, each record showing its own doses again. Every page passes axe (no serious or critical
violation) in Vietnamese and English and is photographed in both.

Set DOSELEDGER_DOCS_PAGES=docs/pages to refresh the README's screenshots of the pages (the
dashboard, a review queue, a person's record, the citizens' page, in both languages).
"""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

import httpx
from openpyxl import load_workbook
from PIL import Image
from selenium.webdriver.common.by import By

from ledger.values import Actor
from tests.api.conftest import CLI, dose, lan
from tests.api.test_pages_browser import wait_for
from tests.browser import SCREENSHOTS, axe_violations, requested_hosts, screenshot, submit
from usecases.principals import issue_token

SYSTEM = Actor("tests", "admin")
HERE = "01-TYT-001"
MISMATCH = "dose-number-mismatch"
DOCS = os.environ.get("DOSELEDGER_DOCS_PAGES")
DOCS_MAX_BYTES = 300_000


def world(ledger: Any) -> dict[str, str]:
    """Lan twice (a dose each), a dose numbered wrong, a site's tallies ahead of its records."""
    ledger.register_site(
        HERE, name="Trạm Y tế Ba Đình", kind="official", province="01", district="Ba Đình", actor=SYSTEM
    )
    today = date.today()
    old, recent = (today - timedelta(days=40)).isoformat(), (today - timedelta(days=3)).isoformat()
    a = ledger.record_dose(actor=SYSTEM, person=lan(), **dose("T1", administered_at=old)).person_id
    b = ledger.record_dose(
        actor=SYSTEM,
        person=lan(national_id="001185099999", phone="0912000111"),
        **dose("T2", administered_at=recent),
    ).person_id
    flagged = ledger.record_dose(
        actor=SYSTEM,
        person=lan(
            full_name="Trần Văn Hùng", national_id="001160000001", birth_date="1960-05-02", sex="male"
        ),
        **dose("T3", administered_at=recent, dose_number=3),
    )
    ledger.report_tallies(
        HERE, [{"day": old, "counts": {"Comirnaty": 4}}, {"day": recent, "counts": {"Comirnaty": 5}}]
    )
    return {"a": str(a), "b": str(b), "flagged_dose": str(flagged.dose_id), "flagged": str(flagged.person_id)}


def checked(browser: Any, served: str, name: str) -> None:
    """The page as it stands (its query kept), in both languages: accessible, self-contained,
    photographed."""
    url = urlparse(browser.current_url)
    query = [(k, v) for k, v in parse_qsl(url.query) if k != "lang"]
    for lang in ("vi", "en"):
        browser.get(urlunparse(url._replace(query=urlencode([*query, ("lang", lang)]))))
        wait_for(browser, "main")
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
        assert axe_violations(browser) == [], (name, lang)
        assert requested_hosts(browser) == {urlparse(served).netloc}, name
        screenshot(browser, name, lang)


def shown_numbers(browser: Any, attribute: str) -> dict[str, int]:
    cells = browser.find_elements(By.CSS_SELECTOR, f"td[data-{attribute}]")
    return {
        unescape(c.get_attribute(f"data-{attribute}")): int(c.get_attribute("textContent")) for c in cells
    }


def sign_in(browser: Any, served: str, token: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{served}/console/login")
    wait_for(browser, "#token")
    browser.find_element(By.ID, "token").send_keys(token)
    submit(browser, browser.find_element(By.CSS_SELECTOR, "main button[type=submit]"))
    wait_for(browser, "#doses-h")


def side_doses(browser: Any, side: str) -> list[str]:
    rows = browser.find_elements(By.CSS_SELECTOR, f"#side-{side} table.doses tbody tr")
    return [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows]


def downloaded(browser: Any, folder: Path, link: str) -> Path:
    """Clicks a download link; the file Chromium saved into `folder` (set by CDP)."""
    browser.find_element(By.CSS_SELECTOR, link).click()
    deadline = time.monotonic() + 20
    while True:
        done = [p for p in folder.glob("*.xlsx") if p.stat().st_size > 0]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        assert time.monotonic() < deadline, f"nothing downloaded into {folder}: {list(folder.iterdir())}"
        time.sleep(0.1)


def for_docs(name: str) -> None:
    """The page's screenshots (artifacts/screenshots/{vi,en}/name.png) into DOSELEDGER_DOCS_PAGES,
    as a palette PNG when the full-colour one is over DOCS_MAX_BYTES."""
    if not DOCS:
        return
    for lang in ("vi", "en"):
        target = Path(DOCS) / f"{name}-{lang}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        image = Image.open(SCREENSHOTS / lang / f"{name}.png").convert("RGB")
        image.save(target, optimize=True)
        if target.stat().st_size > DOCS_MAX_BYTES:
            image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


def test_the_review_pages_backlog_and_downloads_in_a_browser(served, browser, ledger, tmp_path):
    seeded = world(ledger)
    official = issue_token(ledger, role="province", provinces=["01"], actor=CLI)[0]
    api = {"Authorization": f"Bearer {official}"}
    assert httpx.get(
        f"{served}/v1/stats/doses", params={"min_position": ledger.head()}, headers=api
    ).is_success

    sign_in(browser, served, official)
    # The dashboard: the backlog and coverage are the API's numbers.
    by_age = httpx.get(f"{served}/v1/stats/backlog", params={"group_by": "age"}, headers=api).json()["rows"]
    assert shown_numbers(browser, "backlog-age") == {r["age"]: r["backlog"] for r in by_age}
    assert shown_numbers(browser, "backlog-age")["31-90"] == 3
    by_district = httpx.get(f"{served}/v1/stats/backlog", params={"group_by": "district"}, headers=api).json()
    assert shown_numbers(browser, "backlog-district") == {
        f"{r['province']}|{r['district'] or ''}": r["backlog"] for r in by_district["rows"]
    }
    for group, attribute in (("district", "coverage-district"), ("age_band", "coverage-age")):
        rows = httpx.get(f"{served}/v1/stats/coverage", params={"group_by": group}, headers=api).json()[
            "rows"
        ]
        assert shown_numbers(browser, attribute) == {
            f"{r['province']}|{r[group] or ''}|{r['status']}": r["people"] for r in rows
        }, group
    checked(browser, served, "console-dashboard")
    for_docs("console-dashboard")

    # The duplicates and the two records side by side (of its province: the official may merge them).
    browser.get(f"{served}/console/duplicates")
    wait_for(browser, "a.compare")
    checked(browser, served, "console-duplicates")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "a.compare"))
    wait_for(browser, "#side-b")
    assert browser.find_elements(By.CSS_SELECTOR, "form[action='/console/duplicates/merge']")
    checked(browser, served, "console-compare")

    # A flag: no reason, the message beside the field; then resolved.
    browser.get(f"{served}/console/flags?kind={MISMATCH}&lang=en")
    fid = f"{seeded['flagged_dose']}-{MISMATCH}"
    flag = f"{seeded['flagged_dose']}:{MISMATCH}"
    wait_for(browser, f"#reason-{fid}")
    checked(browser, served, "console-flags")
    for_docs("console-flags")
    submit(browser, browser.find_element(By.CSS_SELECTOR, f"section[data-flag='{flag}'] button"))
    wait_for(browser, f"#reason-error-{fid}")
    assert browser.find_element(By.ID, f"reason-{fid}").get_attribute("aria-invalid") == "true"
    assert (
        "Give the reason the flag needs nothing more."
        in browser.find_element(By.ID, f"reason-error-{fid}").text
    )
    assert axe_violations(browser) == []
    browser.find_element(By.ID, f"reason-{fid}").send_keys("the register numbers it 3: a typo")
    submit(browser, browser.find_element(By.CSS_SELECTOR, f"section[data-flag='{flag}'] button"))
    wait_for(browser, ".done")
    assert not browser.find_elements(By.ID, f"reason-{fid}")
    listed = httpx.get(
        f"{served}/v1/review/flags", params={"min_position": ledger.head()}, headers=api
    ).json()
    assert listed["flags"] == []

    # A locality's people, downloaded as an XLSX that reads back as the API's list.
    browser.get(f"{served}/console/localities/01")
    wait_for(browser, "#people")
    checked(browser, served, "console-locality")
    folder = tmp_path / "downloads"
    folder.mkdir()
    behaviour = {"behavior": "allow", "downloadPath": str(folder)}
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {**behaviour, "eventsEnabled": False})
    browser.execute_cdp_cmd("Page.setDownloadBehavior", behaviour)
    saved = downloaded(browser, folder, "a[href$='format=xlsx']")
    sheet = list(load_workbook(saved).active.iter_rows(values_only=True))
    people = httpx.get(f"{served}/v1/localities/01/people", headers=api).json()["items"]
    assert sheet[0][:2] == ("Person id", "Full name")
    assert sorted(row[0] for row in sheet[1:]) == sorted(p["person_id"] for p in people)
    assert {row[1] for row in sheet[1:]} == {"Nguyễn Thị Lan", "Trần Văn Hùng"}

    # A person's record, for the README.
    browser.get(f"{served}/console/persons/{seeded['a']}")
    wait_for(browser, "#doses")
    checked(browser, served, "console-person")
    for_docs("console-person")

    # The province official merges the two and undoes it: each record shows its own doses again.
    browser.get(f"{served}/console/duplicates/compare?a={seeded['a']}&b={seeded['b']}&lang=en")
    wait_for(browser, "#reason")
    before = {"a": side_doses(browser, "a"), "b": side_doses(browser, "b")}
    assert len(before["a"]) == len(before["b"]) == 1 and before["a"] != before["b"]
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/console/duplicates/merge'] button"))
    wait_for(browser, "#survivor-error")
    assert axe_violations(browser) == []
    screenshot(browser, "console-merge-error", "en")
    browser.find_element(By.CSS_SELECTOR, f"input[name=survivor][value='{seeded['a']}']").click()
    browser.find_element(By.ID, "reason").send_keys("the same person registered twice")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/console/duplicates/merge'] button"))
    wait_for(browser, ".done")
    assert sorted(side_doses(browser, "a")) == sorted(before["a"] + before["b"])
    assert side_doses(browser, "b") == []
    checked(browser, served, "console-merged")
    browser.find_element(By.ID, "unmerge_reason").send_keys("twins: two national ids")
    submit(
        browser, browser.find_element(By.CSS_SELECTOR, "form[action='/console/duplicates/unmerge'] button")
    )
    wait_for(browser, ".done")
    assert side_doses(browser, "a") == before["a"] and side_doses(browser, "b") == before["b"]
    assert browser.find_elements(By.CSS_SELECTOR, "form[action='/console/duplicates/merge']")

    # The citizens' page, for the README (its own browser test walks it through).
    browser.get(f"{served}/citizen/")
    wait_for(browser, "main")
    checked(browser, served, "citizen-lookup")
    for_docs("citizen-lookup")
