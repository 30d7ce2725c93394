"""The browser tests' harness (tests/browser.py) catches what it is there to catch.

axe-core runs in the page (vendored, injected) and reports a page's real violations; the
screenshots land where CI collects them.
"""

from __future__ import annotations

from urllib.parse import quote

from tests.browser import SCREENSHOTS, axe_violations, requested_hosts, screenshot

INACCESSIBLE = (
    "<!doctype html><html><head><title>t</title></head><body><main>"
    "<img src='data:image/gif;base64,R0lGODlhAQABAAAAACw='>"
    "<p style='color:#bbb;background:#fff'>faint text</p></main></body></html>"
)
ACCESSIBLE = (
    "<!doctype html><html lang='en'><head><title>t</title></head><body><main>"
    "<h1>Fine</h1><img alt='a dot' src='data:image/gif;base64,R0lGODlhAQABAAAAACw='>"
    "<p style='color:#333;background:#fff'>plain text</p></main></body></html>"
)


def test_axe_reports_a_page_s_serious_and_critical_violations_and_nothing_on_a_clean_one(browser):
    browser.get("data:text/html;charset=utf-8," + quote(INACCESSIBLE))
    found = {v["id"]: v["impact"] for v in axe_violations(browser)}
    assert found == {"image-alt": "critical", "html-has-lang": "serious", "color-contrast": "serious"}
    assert {v["id"] for v in axe_violations(browser, impacts=("critical",))} == {"image-alt"}

    browser.get("data:text/html;charset=utf-8," + quote(ACCESSIBLE))
    assert axe_violations(browser) == []
    assert requested_hosts(browser) == {""}  # a data: page has no host and asked none


def test_a_screenshot_is_a_png_under_its_language(browser):
    browser.get("data:text/html;charset=utf-8," + quote(ACCESSIBLE))
    path = screenshot(browser, "harness-check", "en")
    assert path == SCREENSHOTS / "en" / "harness-check.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert browser.get_window_size()["height"] == 1600  # the window is given back its size
