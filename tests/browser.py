"""The browser tests' harness: a headless Chromium, the service on uvicorn, axe-core, screenshots.

A pytest plugin (tests/conftest.py `pytest_plugins`): a test names `browser` and `served` as
parameters and drives the page with selenium. Debian's chromium and chromedriver (or
DOSELEDGER_CHROMIUM / DOSELEDGER_CHROMEDRIVER) run it; nothing leaves the machine:
axe-core is vendored in tests/vendor/axe-core and injected into the page under test.

    def test_the_page_is_accessible(served, browser):
        browser.get(f"{served}/citizen/")
        assert axe_violations(browser) == []
        screenshot(browser, "citizen-lookup", "vi")
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("DOSELEDGER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("DOSELEDGER_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--window-size=1280,1600",
    "--lang=en",
)
# No internet, loopback kept: every name but 127.0.0.1 fails to resolve, and anything else goes
# to a proxy on a closed port (Chromium never proxies loopback). CDP's offline emulation
# (Network.emulateNetworkConditions) is no substitute: it cuts loopback too.
OFFLINE_FLAGS = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=127.0.0.1:9")
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# Where screenshots go: the repository's artifacts/ (gitignored), which CI keeps.
SCREENSHOTS = Path(
    os.environ.get("DOSELEDGER_SCREENSHOTS", Path(__file__).parent.parent / "artifacts" / "screenshots")
)


def chromium(*extra_flags: str) -> webdriver.Chrome:
    """A headless Chromium driven by selenium; the caller quits it."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, *extra_flags):
        options.add_argument(flag)
    return webdriver.Chrome(service=ChromeService(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """One headless Chromium per test module (starting one takes about a second)."""
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def offline_browser() -> Iterator[webdriver.Chrome]:
    """A headless Chromium that reaches this machine's loopback and nothing else."""
    driver = chromium(*OFFLINE_FLAGS)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """`app` on uvicorn, on a loopback port the kernel picked; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def served(ledger: Any, store_url: str, settings: Any) -> Iterator[str]:
    """The service over the test's ledger and views (each store), with the test's `settings`, on
    uvicorn; yields its base URL."""
    from api.app import create_app
    from tests.api.conftest import read_side

    with read_side(ledger, store_url) as views:
        with serve(create_app(settings, ledger=ledger, views=views)) as url:
            yield url


@pytest.fixture
def settings(store_url: str) -> Any:
    """The served app's settings, where no conftest or test module gives its own `settings`."""
    from config.settings import Settings

    return Settings(database_url=store_url, read_wait_seconds=30)  # as tests/api's: a busy machine


def submit(driver: Any, control: Any, *, by_form: bool = False) -> None:
    """Clicks a control that loads a new page (`by_form`: submits the form a field is in, as
    Enter in it does) and waits until the page it was on is gone.

    Without it a wait for an element of the next page can be answered by the page being left
    (after a merge, its "done" notice stands until the unmerge's answer replaces it). Chromium
    can fail a command sent mid-navigation, the staleness check's own included ("unhandled
    inspector error"): the wait asks again until the next page has loaded."""
    page = driver.find_element(By.TAG_NAME, "html")
    if by_form:
        control.submit()
    else:
        control.click()
    navigating = WebDriverWait(driver, 20, ignored_exceptions=(WebDriverException,))
    navigating.until(ready.staleness_of(page))
    navigating.until(lambda d: d.execute_script("return document.readyState") == "complete")


def axe_violations(driver: Any, impacts: Sequence[str] = ("serious", "critical")) -> list[dict[str, Any]]:
    """axe-core's violations of the page as loaded, of the given impacts: each one's id, impact,
    help and the nodes' selectors and failure summaries (an assertion failure shows them)."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(AXE.read_text(encoding="utf-8"))
    driver.set_script_timeout(60)
    results = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations), e => done({error: String(e)}));"
    )
    assert not isinstance(results, dict), f"axe-core failed: {results}"
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [{"target": n["target"], "summary": n.get("failureSummary", "")} for n in v["nodes"]],
        }
        for v in results
        if v["impact"] in impacts
    ]


def screenshot(driver: Any, name: str, lang: str) -> Path:
    """The whole page as a PNG at artifacts/screenshots/{lang}/{name}.png; returns its path."""
    path = SCREENSHOTS / lang / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    width = driver.get_window_size()["width"]
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, max(height + 140, 600))
    try:
        assert driver.save_screenshot(str(path)), f"no screenshot saved at {path}"
    finally:
        driver.set_window_size(1280, 1600)
    return path


def requested_hosts(driver: Any) -> set[str]:
    """The hosts of every resource the page loaded (the Resource Timing entries): a page that
    works offline asks none but the service's."""
    return set(
        driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).host)"
            ".concat([location.host]);"
        )
    )
