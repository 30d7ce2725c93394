"""Tokens are stored only hashed, and personal data never reaches a log.

The raw store is searched (every table of the test's schema, or the SQLite file's bytes) for
the token's text. The logs are those of the real server (`doseledger serve --access-log`,
uvicorn's access log and the app's own logging) and, in process, every Python logger at
DEBUG, captured while requests carry names, national ids and phones in bodies, queries and
errors.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg

from tests.api.conftest import CLI, Caller
from tests.reliability.server import Server
from usecases.principals import issue_token

NAME, NATIONAL_ID, PHONE = "Hoàng Thị Bích Ngọc", "079199004321", "0987654321"
SECRETS = (NAME, NATIONAL_ID, PHONE, "0987 654 321", "Bích Ngọc")
PERSON = {
    "full_name": NAME,
    "birth_date": "1990-09-09",
    "sex": "female",
    "national_id": NATIONAL_ID,
    "phone": PHONE,
    "province": "79",
    "district": "Quận 1",
    "address": "5 Lê Lợi",
}


def raw_store_text(url: str) -> bytes:
    """Everything the store holds, as bytes, without going through the ledger."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = Path(parts.path[1:])
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # -wal, -shm too
    schema = parse_qs(parts.query)["schema"][0]
    with psycopg.connect(url.split("?", 1)[0]) as conn:
        tables = [
            t
            for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
            )
        ]
        values = [
            value for t in tables for row in conn.execute(f'SELECT * FROM "{schema}"."{t}"') for value in row
        ]
    assert tables
    # bytea (the events' state) as its bytes; anything else as its text
    return b"\n".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in values)


def test_a_token_is_found_nowhere_in_the_store_only_its_hash(service, store_url):
    token = service.token("site", sites=["79-TYT-001"])
    caller = Caller(service.client, token)
    assert (
        caller.post(
            "/v1/doses",
            json={
                "site_id": "79-TYT-001",
                "site_record_id": "S-1",
                "vaccine": "EU/1/20/1528",
                "administered_at": "2021-08-01",
                "person": PERSON,
            },
        ).status_code
        == 201
    )
    stored = raw_store_text(store_url)
    # The search does see what the store holds (the district stays clear; the national id is sealed).
    assert PERSON["district"].encode() in stored
    secret = token.removeprefix("dl_")
    assert token.encode() not in stored and secret.encode() not in stored
    assert secret[:16].encode() not in stored


def pii_requests(http: httpx.Client, site_token: str, admin_token: str) -> int:
    """Requests carrying personal data every way a client may send it; returns how many."""
    site = {"Authorization": f"Bearer {site_token}"}
    admin = {"Authorization": f"Bearer {admin_token}"}
    sent = [
        http.post("/v1/persons", json=PERSON, headers=admin),
        http.post("/v1/persons", json=PERSON, headers=admin),  # the same national id again
        http.post("/v1/persons", json={**PERSON, "birth_date": "2990-01-01"}, headers=admin),
        http.post("/v1/persons", json={**PERSON, "national_id": NATIONAL_ID + "9"}, headers=admin),
        http.get("/v1/persons", params={"national_id": NATIONAL_ID}, headers=admin),
        http.get("/v1/persons", params={"phone": PHONE}, headers=admin),
        http.get("/v1/persons", params={"phone": PHONE}),  # no token
        http.post("/v1/persons", json=PERSON, headers={"Authorization": "Bearer dl_wrong"}),
        http.post(
            "/v1/doses",
            json={
                "site_id": "79-TYT-001",
                "site_record_id": "P-1",
                "person": PERSON,
                "vaccine": "EU/1/20/1528",
                "administered_at": "2021-08-01",
            },
            headers=site,
        ),
        http.post(
            "/v1/doses",
            json={
                "site_id": "79-TYT-001",
                "site_record_id": "P-1",
                "person": PERSON,
                "vaccine": "Snake Oil",
                "administered_at": "2021-08-01",
            },
            headers=site,
        ),
        http.post(
            "/v1/doses",
            json={
                "site_id": "01-OTHER",
                "site_record_id": "P-2",
                "person": PERSON,
                "vaccine": "EU/1/20/1528",
                "administered_at": "2021-08-01",
            },
            headers=site,
        ),  # another site's: 403
        http.post(
            "/v1/persons",
            content=f'{{"full_name": "{NAME}", "phone": "{PHONE}"'.encode(),
            headers={**admin, "Content-Type": "application/json"},
        ),  # malformed JSON
        http.post(
            "/v1/persons",
            content=(
                f'{{"full_name": "{NAME}", "address": "' + "x" * 3_000_000 + f'", "phone": "{PHONE}"}}'
            ).encode(),
            headers={**admin, "Content-Type": "application/json"},
        ),  # 413
    ]
    statuses = {r.status_code for r in sent}
    assert {200, 201, 400, 401, 403, 413, 422} <= statuses, statuses
    return len(sent)


def test_personal_data_never_reaches_the_servers_logs(ledger, store_url, tmp_path):
    site_token, _ = issue_token(ledger, role="site", sites=["79-TYT-001"], actor=CLI)
    admin_token, _ = issue_token(ledger, role="admin", actor=CLI)
    with Server(store_url, tmp_path / "server.log", access_log=True) as server:
        with httpx.Client(base_url=server.base, timeout=30) as http:
            sent = pii_requests(http, site_token, admin_token)
    log = server.log()
    assert "POST /v1/persons" in log and "GET /v1/persons" in log  # the access log did log them
    leaked = [line for line in log.splitlines() if any(s in line for s in SECRETS)]
    assert leaked == [], f"{len(leaked)} of the log's lines after {sent} requests"
    assert admin_token not in log and site_token not in log


def test_personal_data_never_reaches_any_python_logger(service, caplog):
    with caplog.at_level(logging.DEBUG):
        pii_requests(service.client, service.token("site", sites=["79-TYT-001"]), service.token("admin"))
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    leaked = [
        r.getMessage()
        for r in server_side
        if any(s in r.getMessage() or s in (r.exc_text or "") for s in SECRETS)
    ]
    assert leaked == []
