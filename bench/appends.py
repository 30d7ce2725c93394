"""Dose appends through the ledger, beside eventsourcing's raw rate for a trivial aggregate.

Both run in one process on the same database in the same run; the ratio is the figure to
quote, since absolute rates drift on a shared machine.
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from ledger.values import Actor
from store.url import persistence_env
from usecases.application import DoseLedger


class Tally(Aggregate):
    """The baseline: the smallest aggregate the library can store."""

    @event("Started")
    def __init__(self) -> None:
        self.count = 0

    @event("Incremented")
    def increment(self) -> None:
        self.count += 1


class Baseline(Application[uuid.UUID]):
    name = "Baseline"


def raw_rate(url: str, n: int) -> float:
    app = Baseline(env=persistence_env(url))
    tallies = [Tally() for _ in range(20)]
    app.save(*tallies)
    started = time.perf_counter()
    for i in range(n):
        tally = tallies[i % 20]
        tally.increment()
        app.save(tally)
    elapsed = time.perf_counter() - started
    app.close()
    return n / elapsed


def raw_batched_rate(url: str, n: int, batch: int = 100) -> float:
    """The baseline for batches: `batch` new events per save() (one transaction each)."""
    app = Baseline(env=persistence_env(url))
    tallies = [Tally() for _ in range(batch)]
    app.save(*tallies)
    started = time.perf_counter()
    for _ in range(0, n, batch):
        for tally in tallies:
            tally.increment()
        app.save(*tallies)
    elapsed = time.perf_counter() - started
    app.close()
    return n / elapsed


def ledger_rate(url: str, n: int, run: int) -> float:
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": url})
    people = [
        ledger.register_person(
            {"full_name": f"Người {k}", "birth_date": "1980-01-01", "province": "01"}
        ).person_id
        for k in range(20)
    ]
    actor = Actor("bench", "site")
    started = time.perf_counter()
    for i in range(n):
        ledger.record_dose(
            site_id="BENCH-1",
            site_record_id=f"{run}-{i}",
            vaccine="EU/1/20/1528",
            administered_at="2021-08-01",
            person_id=people[i % 20],
            actor=actor,
        )
    elapsed = time.perf_counter() - started
    ledger.close()
    return n / elapsed


def measure(url: str, n: int = 1000, repeats: int = 3) -> dict[str, Any]:
    raw = [raw_rate(url, n) for _ in range(repeats)]
    doses = [ledger_rate(url, n, r) for r in range(repeats)]
    return {
        "raw_saves_per_s": statistics.median(raw),
        "dose_appends_per_s": statistics.median(doses),
        "ratio": statistics.median(doses) / statistics.median(raw),
        "raw_all": raw,
        "doses_all": doses,
    }


if __name__ == "__main__":
    import sys

    for url in sys.argv[1:]:
        result = measure(url)
        print(
            url.split("://")[0],
            {k: (round(v, 1) if isinstance(v, float) else [round(x) for x in v]) for k, v in result.items()},
        )
