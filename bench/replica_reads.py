"""Certificate reads served by a streaming standby beside the same reads on the primary, in the
same run (the ratio to the primary is the figure to quote).

A primary and a standby of the run's own (drills.pair: Debian's pg_createcluster on free ports;
the machine's own servers are never touched). PEOPLE people with a dose each are written to the
primary, the views rebuilt there, and the standby waited for until it has replayed them; then the
same certificate reads, one point read each (the API's `certificate`, in-process, one reader),
run on the views opened on the primary, then on the views reading from the standby
(DOSELEDGER_READ_DATABASE_URL: projections/engine/standby_reads.py, whose retry on a recovery
conflict is on this path). PostgreSQL only.
"""

from __future__ import annotations

import socket
import time
import uuid
from typing import Any

import psycopg

from bench.figures import Result, repeat
from drills.pair import Pair
from ledger.values import Actor
from projections.running import rebuild
from projections.views import open_views
from store.url import URL_KEY
from usecases.application import DoseLedger

ACTOR = Actor("bench", "site")
PEOPLE = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_rate(views: Any, people: list[str], reads: int) -> float:
    """Certificate point reads per second, one reader, the people in turn."""
    started = time.perf_counter()
    for i in range(reads):
        found = views.certificates.certificate(people[i % len(people)])
        assert found is not None
    return reads / (time.perf_counter() - started)


def _caught_up(primary_url: str, standby_url: str, timeout: float = 120) -> None:
    with psycopg.connect(primary_url, autocommit=True) as primary:
        head = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]  # one row
    deadline = time.monotonic() + timeout
    with psycopg.connect(standby_url, autocommit=True) as standby:
        while not standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (head,)).fetchone()[0]:  # type: ignore[index]  # one row
            if time.monotonic() > deadline:
                raise RuntimeError("the standby did not replay the bench's views in time")
            time.sleep(0.05)


def into(result: Result, repeats: int, reads: int) -> None:
    pair = Pair.named(f"bread{uuid.uuid4().hex[:6]}", _free_port(), _free_port(), synchronous=False).create()
    try:
        pair.wait_streaming()
        url, standby_url = pair.primary.url, pair.standby.url
        with DoseLedger(env={URL_KEY: url}) as ledger:
            people = []
            for k in range(PEOPLE):
                person = ledger.register_person(
                    {"full_name": f"Người {k}", "birth_date": "1980-01-01", "province": "01"}
                ).person_id
                ledger.record_dose(
                    site_id="BENCH-1",
                    site_record_id=f"read-{k}",
                    vaccine="EU/1/20/1528",
                    administered_at="2021-08-01",
                    person_id=person,
                    actor=ACTOR,
                )
                people.append(str(person))
        rebuild(url, "all", progress=False)
        _caught_up(url, standby_url)
        with open_views(url) as on_primary, open_views(url, read_url=standby_url) as on_standby:
            result.add(
                "replica_read_primary",
                "certificate reads in-process, from the primary",
                "reads/s",
                repeat(repeats, lambda _: read_rate(on_primary, people, reads)),
            )
            result.add(
                "replica_read_standby",
                "  the same reads served by a streaming standby",
                "reads/s",
                repeat(repeats, lambda _: read_rate(on_standby, people, reads)),
                "replica_read_primary",
            )
    finally:
        pair.remove()


if __name__ == "__main__":  # this module alone: python -m bench.replica_reads
    found = Result("postgresql")
    into(found, repeats=3, reads=5000)
    for key in ("replica_read_primary", "replica_read_standby"):
        row = found.rows[key]
        print(f"{row.label.strip()}: {row.median:,.0f} {row.unit} (ratio {found.ratio(key) or 1:.2f})")
