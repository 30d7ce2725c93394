"""The console's session over plain HTTP: sign-in, the cookie, expiry, revocation, CSRF, roles."""

from __future__ import annotations

import time

from api.pages.session import COOKIE
from tests.api.conftest import CLI
from tests.api.pages import csrf_of, post_form, sign_in
from usecases.principals import revoke_token


def test_a_page_sends_a_browser_without_a_session_to_sign_in_and_back(service):
    service.client.cookies.clear()
    page = service.client.get("/console/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/console/login?next=/console/"
    signed_in = sign_in(service.client, service.token("province", provinces=["01"]))
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/"
    shown = service.client.get("/console/")
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
    assert 'lang="vi"' in shown.text and "Tổng quan" in shown.text


def test_the_session_cookie_is_httponly_strict_for_the_console_and_holds_no_token(service):
    token = service.token("admin")
    response = sign_in(service.client, token)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert token not in cookie and token not in response.headers["location"]
    assert "Max-Age=28800" in cookie  # DOSELEDGER_PAGE_SESSION_HOURS' default, 8


def test_the_cookie_opens_no_api_endpoint(service):
    sign_in(service.client, service.token("admin"))
    session = service.client.cookies.get(COOKIE)
    assert session
    assert service.client.get("/v1/sites", headers={"Cookie": f"{COOKIE}={session}"}).status_code == 401


def test_a_session_older_than_its_hours_is_refused_by_the_server(service, monkeypatch):
    sign_in(service.client, service.token("admin"))
    assert service.client.get("/console/", follow_redirects=False).status_code == 200
    sessions = service.app.state.page_sessions
    monkeypatch.setattr(sessions, "hours", 1 / 3600)  # a session of one second
    time.sleep(2.1)  # itsdangerous' timestamps are whole seconds
    page = service.client.get("/console/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/console/login")


def test_a_forged_or_altered_cookie_is_no_session(service):
    sign_in(service.client, service.token("admin"))
    value = service.client.cookies.get(COOKIE)
    service.client.cookies.set(
        COOKIE, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"), path="/console"
    )
    assert service.client.get("/console/", follow_redirects=False).status_code == 303


def test_a_revoked_token_signs_the_session_out(service):
    token = service.token("province", provinces=["01"])
    sign_in(service.client, token)
    assert service.client.get("/console/", follow_redirects=False).status_code == 200
    revoke_token(service.ledger, token, reason="laptop lost", actor=CLI)
    deadline = time.monotonic() + 5  # the revocation watch tells the app within a second
    while (page := service.client.get("/console/", follow_redirects=False)).status_code == 200:
        assert time.monotonic() < deadline, "a revoked token's session still opens pages"
        time.sleep(0.1)
    assert page.status_code == 303 and page.headers["location"].startswith("/console/login")


def test_a_bad_token_or_none_is_refused_beside_the_field(service):
    refused = sign_in(service.client, "dl_not-a-real-token")
    assert refused.status_code == 401
    assert 'id="token-error"' in refused.text and "không hợp lệ" in refused.text
    empty = sign_in(service.client, "")
    assert empty.status_code == 422 and "Hãy nhập mã truy cập" in empty.text
    assert COOKIE not in service.client.cookies


def test_roles_without_pages_get_a_clear_message(service):
    for role in ("auditor", "reporter", "portal"):
        service.client.cookies.clear()
        refused = sign_in(service.client, service.token(role))
        assert refused.status_code == 403, role
        assert f"vai trò {role} không được mở" in refused.text
        assert COOKIE not in service.client.cookies


def test_a_sign_in_without_the_forms_csrf_or_from_another_origin_is_403(service):
    token = service.token("admin")
    service.client.get("/console/login")
    bare = service.client.post("/console/login", data={"token": token}, follow_redirects=False)
    assert bare.status_code == 403 and COOKIE not in service.client.cookies
    elsewhere = sign_in(service.client, token, Origin="https://evil.example")
    assert elsewhere.status_code == 403 and COOKIE not in service.client.cookies


def test_a_post_without_the_sessions_csrf_token_or_with_a_wrong_one_is_403(service):
    sign_in(service.client, service.token("admin"))
    for data in ({}, {"csrf": "wrong"}):
        refused = service.client.post("/console/logout", data=data, follow_redirects=False)
        assert refused.status_code == 403, data
        assert service.client.get("/console/", follow_redirects=False).status_code == 200  # still signed in
    other_origin = post_form(
        service.client, "/console/logout", {}, headers={"Origin": "https://evil.example"}
    )
    assert other_origin.status_code == 403


def test_sign_out_ends_the_session(service):
    sign_in(service.client, service.token("site", sites=["01-TYT-001"]))
    out = post_form(service.client, "/console/logout", {})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert service.client.get("/console/", follow_redirects=False).status_code == 303


def test_a_signed_out_sessions_cookie_opens_no_page_again(service):
    token = service.token("admin")
    sign_in(service.client, token)
    elsewhere = service.client.cookies.get(COOKIE)  # the same token signed in on another browser
    sign_in(service.client, token)
    cookie = service.client.cookies.get(COOKIE)
    assert cookie and elsewhere and cookie != elsewhere
    out = post_form(service.client, "/console/logout", {})
    assert out.status_code == 303
    # The same cookie value, kept by whoever copied it (a proxy log, another tab's devtools).
    service.client.cookies.set(COOKIE, cookie, path="/console")
    again = service.client.get("/console/", follow_redirects=False)
    assert again.status_code == 303, "the session still opens the console after signing out"
    # The other browser's session is its own: still open.
    service.client.cookies.set(COOKIE, elsewhere, path="/console")
    assert service.client.get("/console/", follow_redirects=False).status_code == 200


def test_english_is_chosen_by_the_link_and_kept_in_a_cookie(service):
    sign_in(service.client, service.token("admin"))
    english = service.client.get("/console/?lang=en")
    assert 'lang="en"' in english.text and "Dashboard" in english.text
    assert "doseledger_lang=en" in english.headers["set-cookie"]
    assert 'lang="en"' in service.client.get("/console/").text
    assert 'href="/console/?lang=vi"' in service.client.get("/console/").text
    assert csrf_of(english.text)


def test_pages_send_a_strict_content_security_policy_and_no_store(service):
    page = service.client.get("/console/login")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "http" not in policy
    assert page.headers["cache-control"] == "no-store"
    assert service.client.get("/static/pages.css").status_code == 200
