"""The public revocation lists over HTTP, on both stores: the EU DCC revocation list (no token,
paged by cursor) and a SMART Health Card key's CRL at its well-known path."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

from tests.test_issuances_view import SHC_KID, issue, revoke


def expected_hash(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()[:16]).decode()


def revoked_uvcis(service: Any, count: int) -> list[str]:
    uvcis = []
    for n in range(count):
        uvci = f"URN:UVCI:01:VN:R{n:03d}#Q"
        issuance = issue(service.ledger, str(uuid.uuid4()), 1, [uvci], f"rid-{n}")
        revoke(service.ledger, issuance, "amended", None)
        uvcis.append(uvci)
    assert service.app.state.views.wait(service.ledger.head(), timeout=10)
    return uvcis


def test_the_revocation_list_needs_no_token_and_may_be_cached(service):
    uvcis = revoked_uvcis(service, 2)
    response = service.anonymous().get("/v1/revocations")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, max-age=300"
    assert "link" not in response.headers
    body = response.json()
    assert {b["hashType"] for b in body} == {"UCI", "COUNTRYCODEUCI"}
    by_type = {b["hashType"]: sorted(b["hashes"]) for b in body}
    assert by_type["UCI"] == sorted(expected_hash(u) for u in uvcis)
    assert by_type["COUNTRYCODEUCI"] == sorted(expected_hash("VN" + u) for u in uvcis)
    assert all(b["country"] == "VN" and b["kid"] for b in body)
    # Nothing personal, nothing but hashes: a UVCI itself is never listed.
    assert not any(u in response.text for u in uvcis)


def test_the_revocation_list_pages_through_the_link_header(service):
    uvcis = revoked_uvcis(service, 5)
    seen: list[str] = []
    url: str | None = "/v1/revocations?limit=2"
    pages = 0
    while url is not None:
        response = service.anonymous().get(url)
        assert response.status_code == 200, response.text
        pages += 1
        seen.extend(h for b in response.json() if b["hashType"] == "UCI" for h in b["hashes"])
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else None
        if link:
            assert link.endswith('; rel="next"') and response.headers["x-next-cursor"] in link
    assert pages == 3
    assert sorted(seen) == sorted(expected_hash(u) for u in uvcis)


def test_a_bad_cursor_or_limit_is_422_naming_it(service):
    bad = service.anonymous().get("/v1/revocations", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422, bad.text
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"][0]["loc"] == ["query", "cursor"]
    for limit in (0, 10_001):
        response = service.anonymous().get("/v1/revocations", params={"limit": limit})
        assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["query", "limit"]


def test_a_keys_crl_lists_its_revoked_rids_and_an_unknown_key_is_404(service):
    revoked_uvcis(service, 2)
    response = service.anonymous().get(f"/.well-known/crl/{SHC_KID}.json")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, max-age=300"
    body = response.json()
    assert (body["kid"], body["method"], body["ctr"]) == (SHC_KID, "rid", 2)
    assert sorted(r.split(".")[0] for r in body["rids"]) == ["rid-0", "rid-1"]
    unknown = service.anonymous().get("/.well-known/crl/never-signed.json")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["errors"][0]["loc"] == ["path", "kid"]
