"""PostgreSQL goes away while the API serves: 503 with Retry-After (never 500), then success.

A private PostgreSQL (tests/reliability/private_postgres.py) is stopped with `-m immediate`
(its processes quit at once, as in a crash) and started again while clients keep recording.
Only PostgreSQL: SQLite is a file inside the API's own process, with no server to lose.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import httpx
import pytest

from store.url import URL_KEY
from tests.reliability.private_postgres import PrivatePostgres
from tests.reliability.server import Server, doseledger
from tests.reliability.stored import doses_by_site_record, site_record_claims
from usecases.application import DoseLedger
from usecases.principals import issue_token

HEAVY = os.environ.get("DOSELEDGER_HEAVY") == "1"
SITE = "01-TYT-001"
# Longer than the store's connect timeout (ledger/store.py, 5 s): requests sent early in
# the outage are answered while it lasts.
OUTAGE_SECONDS = float(os.environ.get("DOSELEDGER_OUTAGE_SECONDS", "8"))
CLI = {"principal_id": "reliability tests", "role": "admin"}


@pytest.fixture
def postgres():
    server = PrivatePostgres().initdb()
    server.start()
    yield server
    server.remove()


def test_while_postgresql_restarts_requests_answer_503_then_succeed_and_nothing_is_partial(
    postgres, tmp_path
):
    with DoseLedger(env={URL_KEY: postgres.url}) as ledger:
        token, _ = issue_token(ledger, role="site", sites=[SITE], actor=CLI)
        people = [
            str(
                ledger.register_person(
                    {"full_name": f"Lê Văn Tám {i}", "birth_date": "1990-01-01", "province": "01"}
                ).person_id
            )
            for i in range(8)
        ]
    statuses: Counter[int | str] = Counter()
    during_outage: Counter[int | str] = Counter()
    acknowledged: set[str] = set()
    down = threading.Event()
    stop = threading.Event()
    errors: list[str] = []  # what a client thread found wrong (an assert there would be lost)
    completed_by_resend = [0]
    outages_seen = [0]
    waits: list[float] = []  # how long requests in flight during an outage took to be answered

    def client(index: int) -> None:
        with httpx.Client(
            base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            n = 0
            while not stop.is_set():
                record = f"OUT-{index}-{n}"
                body = {
                    "site_id": SITE,
                    "site_record_id": record,
                    "person_id": people[index],
                    "vaccine": "EU/1/20/1528",
                    "administered_at": "2021-08-01",
                }
                if index % 2:  # half the clients send batches of two
                    body = {"doses": [body, {**body, "site_record_id": record + "b"}]}
                started = time.monotonic()
                try:
                    response = http.post("/v1/doses/batch" if index % 2 else "/v1/doses", json=body)
                    outcome: int | str = response.status_code
                except httpx.TransportError as e:
                    outcome = type(e).__name__
                statuses[outcome] += 1
                if down.is_set():  # answered while the database is still down
                    during_outage[outcome] += 1
                if outages_seen[0] and time.monotonic() - started > 1:
                    waits.append(time.monotonic() - started)
                if outcome == 503:
                    assert response.headers.get("retry-after")
                    time.sleep(0.05)
                    continue  # the same record again
                if outcome in (200, 201):
                    acknowledged.add(record)
                    if index % 2:
                        # A batch that met contention is saved item by item (ledger.record_doses):
                        # one cut by the outage may have its first item stored. Sent again, each
                        # item is created or a duplicate: the batch completes, nothing doubles.
                        counts = response.json()["counts"]
                        if counts["created"] + counts["duplicate"] != 2:
                            errors.append(response.text)
                        completed_by_resend[0] += 0 < counts["duplicate"] < 2
                        acknowledged.add(record + "b")
                    n += 1
                elif outcome != 503 and not isinstance(outcome, str):
                    errors.append(f"{outcome}: {response.text}")

    outages = 3 if HEAVY else 1
    with Server(postgres.url, tmp_path / "server.log") as server:
        clients = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(8)]
        for thread in clients:
            thread.start()
        for _ in range(outages):
            time.sleep(1.0)
            postgres.stop()
            outages_seen[0] += 1
            down.set()
            time.sleep(OUTAGE_SECONDS)
            postgres.start()
            down.clear()
        before = len(acknowledged)
        back = time.monotonic()
        # A loaded machine may take seconds to restart the server and reconnect the pool.
        while len(acknowledged) == before and time.monotonic() - back < 30:
            time.sleep(0.1)
        back = time.monotonic() - back
        time.sleep(1.0)
        stop.set()
        for thread in clients:
            thread.join(60)
        recovered = len(acknowledged) - before
        reconciled = doseledger(postgres.url, "reconcile", "--timeout", "60", timeout=90)
        log = server.log()

    with DoseLedger(env={URL_KEY: postgres.url}) as ledger:
        stored = doses_by_site_record(ledger)
        claims = site_record_claims(ledger)
    print(
        f"\n[postgres restart] outages={outages} statuses={dict(statuses)} "
        f"during outage={dict(during_outage)} acknowledged={len(acknowledged)} "
        f"after restart={recovered} stored={len(stored)} "
        f"batches completed by re-sending={completed_by_resend[0]} "
        f"slowest answer around an outage={max(waits, default=0):.1f}s "
        f"first acknowledged after the last restart in {back:.1f}s"
    )
    assert errors == []
    assert during_outage[503] > 0, dict(during_outage)
    assert not [s for s in statuses if isinstance(s, int) and s >= 500 and s != 503], (
        dict(statuses),
        log[-3000:],
    )
    assert not [s for s in statuses if isinstance(s, str)], dict(statuses)  # the API itself stayed up
    assert recovered > 0  # requests succeed again once the database is back
    assert acknowledged <= {record for _, record in stored}  # every acknowledged dose is there
    assert set(stored.values()) == {1}
    assert claims == stored  # nothing half-written: each dose with its site-record claim
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
