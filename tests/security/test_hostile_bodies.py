"""Bodies built to hurt, sent to the real server: JSON nested 10,000 deep, bodies over the limit
(declared, or streamed without a length). Refused with 400/413 problem+json, the server stays up,
nothing is stored."""

from __future__ import annotations

import httpx

from tests.api.conftest import CLI
from tests.reliability.server import Server
from tests.reliability.stored import stored_events
from usecases.principals import issue_token

DEPTH = 10_000


def test_deep_nesting_and_oversized_bodies_are_refused_and_the_server_stays_up(ledger, store_url, tmp_path):
    token, _ = issue_token(ledger, role="admin", actor=CLI)
    before = len(stored_events(ledger))
    deep_object = b'{"person": ' + b'{"a": ' * DEPTH + b"1" + b"}" * (DEPTH + 1)
    deep_array = b'{"doses": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"

    def streamed():  # no Content-Length: counted as it arrives
        yield b'{"full_name": "'
        for _ in range(3 * 1024):
            yield b"x" * 1024
        yield b'"}'

    with (
        Server(store_url, tmp_path / "server.log") as server,
        httpx.Client(
            base_url=server.base,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=60,
        ) as http,
    ):
        answers = {
            "deep object": http.post("/v1/doses", content=deep_object),
            "deep array": http.post("/v1/doses/batch", content=deep_array),
            "deep person": http.post("/v1/persons", content=deep_object),
            "declared over": http.post("/v1/persons", content=b'{"full_name": "' + b"x" * (3 << 20) + b'"}'),
            "streamed over": http.post("/v1/persons", content=streamed()),
            "batch over": http.post("/v1/doses/batch", content=b'{"doses": ["' + b"x" * (9 << 20) + b'"]}'),
        }
        alive = http.get("/healthz").status_code
    statuses = {what: r.status_code for what, r in answers.items()}
    assert statuses == {
        "deep object": 400,
        "deep array": 400,
        "deep person": 400,
        "declared over": 413,
        "streamed over": 413,
        "batch over": 413,
    }, statuses
    assert all(r.headers["content-type"] == "application/problem+json" for r in answers.values())
    assert alive == 200
    assert len(stored_events(ledger)) == before
