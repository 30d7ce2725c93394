"""What the standard feeds cost beside the JSON batch path, in one run on fresh stores.

`python -m bench.feeds [sqlite|postgresql ...]` prints, per store, doses/s of:

- the JSON batch path: `POST /v1/doses/batch`, 500 doses a request, each a new person;
- HL7 v2 over HTTP: `POST /v1/hl7v2`, a batch of 500 VXU messages a request (once the route is
  there);
- HL7 v2 over MLLP: 8 connections on the loopback, each pipelining 32 messages ahead of its
  ACKs, the listener gathering what arrives together into one transaction;

and each feed's ratio to the JSON batch path (the figure to quote: absolute rates drift on a
shared machine). Both HTTP paths run in process through the ASGI test client: the ratio is the
route's cost, not a network's. Each measure gets a fresh store; the median of `repeats` is kept.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import ROUTERS, create_app
from bench.imports import drop_store, fresh_store
from bench.mllp_client import connect, in_threads, send_all, served
from cli.mllp import Listener
from config.settings import Settings
from intake.mllp import MllpServer, Peers
from usecases.application import DoseLedger
from usecases.principals import issue_token

SITE = "BENCH-1"
BATCH = 500
CONNECTIONS = 8
ADMIN = {"principal_id": "bench", "role": "admin"}


def vxu(n: int) -> bytes:
    segments = [
        f"MSH|^~\\&|EHR|{SITE}|DOSELEDGER||20210801120000||VXU^V04^VXU_V04|C{n}|P|2.5.1",
        f"PID|||P{n}^^^{SITE}^MR||Nguyen^Van^Nguoi {n}||19800101|M|||{n} Pho Hue^^Ha Noi^01",
        f"ORC|RE||R{n}",
        f"RXA|0|1|20210801||208^COVID-19 mRNA^CVX|0.3|mL||00||^^^{SITE}||||FA1234|||||CP|A",
    ]
    return "\r".join(segments).encode("utf-8") + b"\r"


def dose(n: int) -> dict[str, Any]:
    return {
        "site_id": SITE,
        "site_record_id": f"R{n}",
        "vaccine": "EU/1/20/1528",
        "lot": "FA1234",
        "administered_at": "2021-08-01",
        "person": {
            "full_name": f"Nguyen Van Nguoi {n}",
            "birth_date": "1980-01-01",
            "sex": "male",
            "province": "01",
            "address": f"{n} Pho Hue",
        },
    }


def has_hl7_route() -> bool:
    return any(getattr(route, "path", "") == "/v1/hl7v2" for router in ROUTERS for route in router.routes)


def _client(ledger: DoseLedger, url: str) -> tuple[TestClient, dict[str, str]]:
    app = create_app(
        Settings(database_url=url, max_batch_body_bytes=64 * 1024 * 1024), ledger=ledger, views=object()
    )
    token = issue_token(ledger, role="admin", actor=ADMIN)[0]
    return TestClient(app), {"Authorization": f"Bearer {token}"}


def json_batches(ledger: DoseLedger, url: str, n: int) -> float:
    client, headers = _client(ledger, url)
    with client:
        started = time.perf_counter()
        for first in range(0, n, BATCH):
            body = {"doses": [dose(k) for k in range(first, min(n, first + BATCH))]}
            response = client.post("/v1/doses/batch", json=body, headers=headers)
            assert response.status_code < 300, response.text
        return n / (time.perf_counter() - started)


def hl7_over_http(ledger: DoseLedger, url: str, n: int) -> float:
    client, headers = _client(ledger, url)
    headers["Content-Type"] = "application/hl7-v2"
    with client:
        started = time.perf_counter()
        for first in range(0, n, BATCH):
            data = b"".join(vxu(k) for k in range(first, min(n, first + BATCH)))
            response = client.post("/v1/hl7v2", content=data, headers=headers)
            assert response.status_code < 300, response.text
            assert b"MSA|AE" not in response.content and b"MSA|AR" not in response.content
        return n / (time.perf_counter() - started)


def hl7_over_mllp(ledger: DoseLedger, url: str, n: int) -> float:
    peers = Peers.from_data({"peers": [{"name": "bench", "sites": [SITE], "addresses": ["127.0.0.1"]}]})
    listener = Listener(ledger)
    server = MllpServer(listener.answer, listener.refuse, peers, 1024 * 1024)
    share = n // CONNECTIONS
    with served(server) as port:

        def client(c: int) -> Callable[[], list[bytes]]:
            def send() -> list[bytes]:
                with connect(port, timeout=600) as sock:
                    return send_all(sock, [vxu(c * share + k) for k in range(share)], pipelined=32)

            return send

        started = time.perf_counter()
        acks = in_threads([client(c) for c in range(CONNECTIONS)])
        took = time.perf_counter() - started
    assert all(b"MSA|AA" in a for per in acks for a in per)
    return share * CONNECTIONS / took


Measure = Callable[[DoseLedger, str, int], float]


def measures() -> dict[str, Measure]:
    chosen: dict[str, Measure] = {"json_batch": json_batches, "mllp": hl7_over_mllp}
    if has_hl7_route():
        chosen["hl7_http"] = hl7_over_http
    return chosen


def runs(kind: str, n: int, repeats: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {name: [] for name in measures()}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for name, measure in measures().items():
                url = fresh_store(kind, Path(tmp))
                try:
                    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": url}) as ledger:
                        found[name].append(measure(ledger, url, n))
                finally:
                    drop_store(url)
    return found


LABELS = {
    "json_batch": "JSON batch path: POST /v1/doses/batch, 500 doses a request",
    "hl7_http": "HL7 v2 over HTTP: POST /v1/hl7v2, 500 VXU a request",
    "mllp": "HL7 v2 over MLLP: 8 connections, 32 messages ahead of their ACKs",
}


def into(result: Any, kind: str, repeats: int, n: int = 4000) -> None:
    """The feeds as rows of `doseledger bench`, each with the JSON batch path as its baseline."""
    for name, rates in runs(kind, n, repeats).items():
        result.add(
            f"feed_{name}",
            LABELS[name],
            "doses/s",
            rates,
            None if name == "json_batch" else "feed_json_batch",
        )


if __name__ == "__main__":
    for kind in sys.argv[1:] or ["sqlite", "postgresql"]:
        found = runs(kind, 4000, 3)
        base = statistics.median(found["json_batch"])
        for name, rates in found.items():
            rate = statistics.median(rates)
            print(f"{kind:10} {LABELS[name]:66} {rate:8.0f}/s  ratio {rate / base:.2f}")
