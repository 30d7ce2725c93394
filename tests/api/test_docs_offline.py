"""/docs and /redoc work with no internet: every script, stylesheet and icon is the service's own.

An offline Chromium (tests/browser.py OFFLINE_FLAGS: no name resolves but 127.0.0.1, nothing
else is routed) renders the operations from /openapi.json, and the page's Resource Timing
entries (which list failed and blocked requests too) show nothing was asked of another host.
The pages read no store: one service on SQLite serves the module (each page takes Chromium
seconds of CPU to render, so they are loaded once).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from api.app import create_app
from config.settings import Settings
from tests.browser import requested_hosts, serve

RECORD_DOSE = "record_v1_doses_post"  # POST /v1/doses's operation id


@pytest.fixture(scope="module")
def docs_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("docs") / "ledger.db"
    with serve(create_app(Settings(database_url=f"sqlite:///{store}"))) as url:
        yield url


def test_the_offline_browser_reaches_the_service_and_nothing_else(docs_served, offline_browser):
    for url in ("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css", "http://1.1.1.1/"):
        with pytest.raises(WebDriverException, match="ERR_NAME_NOT_RESOLVED|ERR_PROXY_CONNECTION_FAILED"):
            offline_browser.get(url)
    offline_browser.get(f"{docs_served}/healthz")
    assert '"ok"' in offline_browser.page_source


def test_swagger_ui_renders_the_operations_offline_from_the_service_s_own_files(docs_served, offline_browser):
    offline_browser.get(f"{docs_served}/docs")
    record = WebDriverWait(offline_browser, 60).until(
        ready.visibility_of_element_located((By.CSS_SELECTOR, f"#operations-doses-{RECORD_DOSE}"))
    )
    assert record.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text == "POST"
    path = record.find_element(By.CSS_SELECTOR, ".opblock-summary-path").text
    assert path.replace("\u200b", "") == "/v1/doses"
    assert offline_browser.find_element(By.CSS_SELECTOR, ".info .title").text.startswith("doseledger")
    styles = offline_browser.execute_script("return [...document.styleSheets].map(s => s.href)")
    assert f"{docs_served}/static/vendor/swagger-ui-dist/swagger-ui.css" in styles
    assert requested_hosts(offline_browser) == {urlparse(docs_served).netloc}


def test_redoc_renders_the_operations_offline_and_its_maker_s_logo_is_never_fetched(
    docs_served, offline_browser
):
    offline_browser.get_log("browser")  # what earlier pages logged
    offline_browser.get(f"{docs_served}/redoc")
    operation = WebDriverWait(offline_browser, 60).until(
        ready.presence_of_element_located((By.CSS_SELECTOR, f"[data-section-id='operation/{RECORD_DOSE}']"))
    )
    assert "/v1/doses" in operation.get_attribute("textContent")
    # redoc's sidebar links its maker with a logo from cdn.redoc.ly: the page's policy
    # (img-src 'self' data:) blocks it before any request leaves, and redoc hides the image.
    assert requested_hosts(offline_browser) == {urlparse(docs_served).netloc, "cdn.redoc.ly"}
    blocked = [
        entry["message"]
        for entry in offline_browser.get_log("browser")
        if "violates the following Content Security Policy" in entry["message"]
    ]
    assert len(blocked) == 1 and "https://cdn.redoc.ly/redoc/logo-mini.svg" in blocked[0]
    assert offline_browser.execute_script("return document.images.length") == 0


def test_the_pages_and_the_vendored_files_are_served(service):
    for path, kind in (
        ("/static/vendor/swagger-ui-dist/swagger-ui-bundle.js", "javascript"),
        ("/static/vendor/swagger-ui-dist/swagger-ui.css", "text/css"),
        ("/static/vendor/swagger-ui-dist/favicon-32x32.png", "image/png"),
        ("/static/vendor/redoc/redoc.standalone.js", "javascript"),
    ):
        response = service.client.get(path)
        assert response.status_code == 200 and kind in response.headers["content-type"], path
    for page, script in (
        ("/docs", "/static/vendor/swagger-ui-dist/swagger-ui-bundle.js"),
        ("/redoc", "/static/vendor/redoc/redoc.standalone.js"),
    ):
        response = service.client.get(page)
        assert response.status_code == 200 and script in response.text
        assert "cdn.jsdelivr.net" not in response.text and "fonts.googleapis.com" not in response.text
        assert "img-src 'self' data:" in response.headers["content-security-policy"]
    assert service.client.get("/static/vendor/none.js").status_code == 404
