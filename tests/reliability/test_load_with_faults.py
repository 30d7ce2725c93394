"""64 clients recording doses through timeouts and dropped connections: none lost, none doubled.

The real server runs in its own process. Each site record is sent until an answer is read;
some are sent again after their answer (a site resending its day). Afterwards the store holds
exactly one DoseRecorded per acknowledged site record, and `doseledger reconcile` is clean.
CI size by default; DOSELEDGER_HEAVY=1 for the run whose figures are in docs/RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

from tests.reliability.faulty_clients import FaultyClient, Tally
from tests.reliability.server import Server, doseledger
from tests.reliability.stored import doses_by_site_record, site_record_claims
from usecases.principals import issue_token

HEAVY = os.environ.get("DOSELEDGER_HEAVY") == "1"
CLIENTS = 64
SITE = "01-TYT-001"
CLI = {"principal_id": "reliability tests", "role": "admin"}


def site_record(n: int, people: list[str]) -> dict[str, Any]:
    """Record n, the same content every time it is sent (a retry is the same request)."""
    dose: dict[str, Any] = {
        "site_id": SITE,
        "site_record_id": f"LOAD-{n:06d}",
        "vaccine": "EU/1/20/1528",
        "lot": f"FA{n % 97:04d}",
        "administered_at": f"2021-{1 + n % 12:02d}-{1 + n % 28:02d}",
    }
    if n % 4 == 0:  # registered inline: the national id claim races with the dose
        dose["person"] = {
            "full_name": f"Người Thử {n}",
            "birth_date": "1980-01-01",
            "national_id": f"{1_000_000_000 + n:012d}",
            "province": "01",
        }
    else:  # an existing person: many clients write into the same streams at once
        dose["person_id"] = people[n % len(people)]
    return dose


async def run_clients(base: str, token: str, records: int, people: list[str], seed: int) -> Tally:
    tally = Tally()
    work: asyncio.Queue[list[int]] = asyncio.Queue()
    n = 0
    rng = random.Random(seed)
    while n < records:
        size = 5 if rng.random() < 0.1 else 1  # one job in ten is a batch
        work.put_nowait(list(range(n, min(n + size, records))))
        n += size

    async def client(index: int) -> None:
        faulty = FaultyClient(base, token, tally, random.Random(seed * 1000 + index))
        try:
            while not work.empty():
                job = work.get_nowait()
                await send(faulty, job, people, tally)
                if faulty.rng.random() < 0.05:  # the site sends its records again later
                    await send(faulty, job, people, tally, again=True)
        finally:
            await faulty.close()

    await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    return tally


async def send(
    faulty: FaultyClient, job: list[int], people: list[str], tally: Tally, again: bool = False
) -> None:
    doses = [site_record(n, people) for n in job]
    if len(job) == 1:
        response = await faulty.post_until_answered("/v1/doses", doses[0])
        statuses = [{201: "created", 200: "duplicate"}.get(response.status_code, response.text)]
    else:
        response = await faulty.post_until_answered("/v1/doses/batch", {"doses": doses})
        body = response.json() if response.status_code == 200 else {}
        statuses = [
            r["status"] if r["status"] in ("created", "duplicate") else f"{r['status']} {r.get('errors')}"
            for r in body.get("results", [])
        ] or [response.text]
    for dose, status in zip(doses, statuses, strict=False):  # a failed request: one status
        if status in ("created", "duplicate"):
            tally.acknowledged.add((dose["site_id"], dose["site_record_id"]))
            tally.duplicates_answered += status == "duplicate"
            if again and status != "duplicate":
                tally.unexpected.append(f"{dose['site_record_id']} sent again was {status}")
        else:
            tally.unexpected.append(f"{dose['site_record_id']}: {status}")


def test_doses_sent_through_timeouts_and_dropped_connections_are_stored_exactly_once(
    ledger, store_url, tmp_path
):
    records = (20_000 if HEAVY else 1_500) if "postgresql" in store_url else (5_000 if HEAVY else 600)
    token, _ = issue_token(ledger, role="site", sites=[SITE], actor=CLI)
    people = [
        str(
            ledger.register_person(
                {"full_name": f"Người Sẵn {i}", "birth_date": "1990-06-15", "province": "01"}
            ).person_id
        )
        for i in range(50)
    ]
    with Server(store_url, tmp_path / "server.log") as server:
        tally = asyncio.run(run_clients(server.base, token, records, people, seed=records))
        reconciled = doseledger(store_url, "reconcile", "--timeout", "120")
    stored = doses_by_site_record(ledger)
    lost = tally.acknowledged - set(stored)
    doubled = {key: n for key, n in stored.items() if n > 1}
    print(
        f"\n[load] store={store_url.split(':')[0]} clients={CLIENTS} site records={records} "
        f"requests={tally.requests} faults={tally.faults} (timeouts={tally.timeouts} "
        f"drops={tally.drops}) statuses={dict(tally.statuses)} acknowledged={len(tally.acknowledged)} "
        f"stored={len(stored)} lost={len(lost)} doubled={len(doubled)} "
        f"5xx={tally.server_errors()}"
    )
    assert tally.unexpected == []
    assert len(tally.acknowledged) == records
    assert lost == set() and doubled == {}
    assert set(stored) == tally.acknowledged  # nothing stored that no one was told about either
    assert site_record_claims(ledger) == stored  # nothing half-written: each dose with its claim
    assert tally.server_errors() == 0, server.log()[-3000:]
    assert tally.faults > records // 10  # the faults really happened
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
