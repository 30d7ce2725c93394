"""The auditor's page over plain HTTP: signing in, the cookie it sets, who gets in, and what a
page answers for people it does not know. (The page itself, rendered, in test_audit_browser.py.)"""

from __future__ import annotations

from uuid import UUID

from api.auth import TokenVerifier
from tests.api.conftest import CLI, dose, lan
from tests.api.test_doses import SITE
from tests.stored_rows import StoredRows
from usecases.principals import revoke_token

UNKNOWN = "6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e"


def person(service) -> str:
    site = service.caller("site", **SITE)
    return site.post("/v1/doses", json=dose("A1", person=lan())).json()["person_id"]


def sign_in(service, token: str, next_: str = "/audit/", **headers):
    return service.client.post(
        "/audit/login", data={"token": token, "next": next_}, headers=headers, follow_redirects=False
    )


def test_a_page_sends_a_browser_without_a_session_to_sign_in_and_back(service):
    person_id = person(service)
    service.client.cookies.clear()
    page = service.client.get(f"/audit/persons/{person_id}", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == f"/audit/login?next=/audit/persons/{person_id}"
    signed_in = sign_in(service, service.token("auditor"), f"/audit/persons/{person_id}")
    assert signed_in.status_code == 303 and signed_in.headers["location"] == f"/audit/persons/{person_id}"
    shown = service.client.get(f"/audit/persons/{person_id}")
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
    assert "Dose recorded" in shown.text and "Nguyễn Thị Lan" in shown.text


def test_the_session_cookie_is_httponly_strict_and_only_for_the_audit_pages(service):
    token = service.token("auditor")
    response = sign_in(service, token)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"doseledger_audit={token};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/audit" in cookie
    assert token not in response.headers["location"]


def test_the_cookie_opens_no_api_endpoint(service):
    token = service.token("admin")
    sign_in(service, token)
    response = service.client.get("/v1/audit/access", headers={"Cookie": f"doseledger_audit={token}"})
    assert response.status_code == 401


def test_only_auditor_and_admin_tokens_sign_in(service):
    for role, status in (
        ("site", 403),
        ("province", 403),
        ("reporter", 403),
        ("auditor", 303),
        ("admin", 303),
    ):
        scope = {"site": SITE, "province": {"provinces": ["01"]}}.get(role, {})
        service.client.cookies.clear()
        response = sign_in(service, service.token(role, **scope))
        assert response.status_code == status, role
        assert ("set-cookie" in response.headers) == (status == 303), role
    refused = sign_in(service, "dl_not-a-token")
    assert refused.status_code == 401 and "not known" in refused.text


def test_a_sign_in_posted_from_another_site_is_refused(service):
    response = sign_in(service, service.token("auditor"), origin="https://elsewhere.example")
    assert response.status_code == 403 and "set-cookie" not in response.headers


def test_sign_in_sends_the_browser_only_to_the_audit_pages(service):
    token = service.token("auditor")
    for elsewhere in ("https://elsewhere.example/", "//elsewhere.example", "/v1/audit/access"):
        assert sign_in(service, token, elsewhere).headers["location"] == "/audit/"


def test_a_revoked_token_ends_the_session_at_the_next_page(service):
    person_id = person(service)
    token = service.token("auditor")
    sign_in(service, token)
    assert service.client.get(f"/audit/persons/{person_id}").status_code == 200
    revoke_token(service.ledger, token, "left the job", actor=CLI)
    service.app.state.tokens = TokenVerifier(service.ledger, ttl=0)  # its memory of the token expired
    again = service.client.get(f"/audit/persons/{person_id}", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/audit/login")


def test_unknown_and_malformed_person_ids_answer_a_page_saying_so(service):
    sign_in(service, service.token("auditor"))
    unknown = service.client.get(f"/audit/persons/{UNKNOWN}")
    malformed = service.client.get("/audit/persons/not-an-id")
    assert unknown.status_code == 404 and "No such person" in unknown.text
    assert malformed.status_code == 422 and "not a person id" in malformed.text


def test_pages_are_not_cached_framed_or_allowed_scripts(service):
    person_id = person(service)
    sign_in(service, service.token("auditor"))
    page = service.client.get(f"/audit/persons/{person_id}")
    assert page.headers["cache-control"] == "no-store"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "<script" not in page.text


def test_the_start_page_opens_a_record_by_id_and_sign_out_ends_the_session(service):
    person_id = person(service)
    sign_in(service, service.token("auditor"))
    opened = service.client.get(
        "/audit/persons", params={"person_id": f" {person_id} "}, follow_redirects=False
    )
    assert opened.headers["location"] == f"/audit/persons/{person_id}"
    assert "Open a person" in service.client.get("/audit/").text
    signed_out = service.client.post("/audit/logout", follow_redirects=False)
    assert signed_out.status_code == 303 and 'doseledger_audit=""' in signed_out.headers["set-cookie"]
    service.client.cookies.clear()
    assert service.client.get("/audit/", follow_redirects=False).status_code == 303


def test_page_text_is_escaped(service):
    site = service.caller("site", **SITE)
    person_id = site.post(
        "/v1/doses", json=dose("X1", person=lan(full_name="Lan <script>alert(1)</script>", national_id=None))
    ).json()["person_id"]
    sign_in(service, service.token("auditor"))
    page = service.client.get(f"/audit/persons/{person_id}")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text


def test_a_row_damaged_in_the_database_is_shown_in_its_place_with_what_is_wrong(service, store_url):
    person_id = person(service)
    rows = StoredRows(store_url)
    try:
        rows.put_state(UUID(person_id), 2, b"{not json")
    finally:
        rows.close()
    sign_in(service, service.token("auditor"))
    page = service.client.get(f"/audit/persons/{person_id}")
    assert page.status_code == 200
    assert 'class="event card problem"' in page.text and "cannot be read" in page.text
