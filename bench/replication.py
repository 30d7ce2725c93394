"""What a standby costs the writer: single doses and batches with no standby, an asynchronous one
and a synchronous one, on one primary of the run's own, in the same run (the ratios to "no
standby" are the figures to quote).

A primary and a standby are made with drills.pair (Debian's pg_createcluster, on free ports; the
machine's own server is never touched). The three modes run on the same primary, in this order:
the standby stopped (no standby: nothing waits, nothing streams), the standby streaming
asynchronously, then synchronously (`synchronous_standby_names = '*'`: each commit waits for the
standby's flush, the events table's lock held across that round trip). PostgreSQL only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from bench.figures import Result, repeat
from drills.pair import Pair
from ledger.values import Actor
from store.url import URL_KEY
from usecases.application import DoseLedger

MODES = (("none", "no standby"), ("async", "an asynchronous standby"), ("sync", "a synchronous standby"))
ACTOR = Actor("bench", "site")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def single_rate(ledger: DoseLedger, people: list[Any], n: int, tag: str) -> float:
    """Single doses in-process, one writer, one transaction (one commit) each."""
    import time

    started = time.perf_counter()
    for i in range(n):
        ledger.record_dose(
            site_id="BENCH-1",
            site_record_id=f"{tag}-{i}",
            vaccine="EU/1/20/1528",
            administered_at="2021-08-01",
            person_id=people[i % len(people)],
            actor=ACTOR,
        )
    return n / (time.perf_counter() - started)


def batch_rate(ledger: DoseLedger, people: list[Any], batches: int, size: int, tag: str) -> float:
    """Batches of `size` doses for people already registered, one transaction each."""
    import time

    started = time.perf_counter()
    for b in range(batches):
        items = [
            {
                "site_id": "BENCH-1",
                "site_record_id": f"{tag}-{b}-{i}",
                "vaccine": "EU/1/20/1528",
                "administered_at": "2021-08-01",
                "person_id": str(people[i % len(people)]),
            }
            for i in range(size)
        ]
        outcomes = ledger.record_doses(items, actor=ACTOR)
        assert all(o.receipt is not None for o in outcomes), [o.error for o in outcomes if o.error][:3]
    return batches * size / (time.perf_counter() - started)


def into(
    result: Result, repeats: int, singles: int, batches: int, say: Callable[[str], None] = print
) -> None:
    pair = Pair.named(f"bench{uuid.uuid4().hex[:6]}", _free_port(), _free_port(), synchronous=False).create()
    try:
        with DoseLedger(env={URL_KEY: pair.primary.url}) as ledger:
            people = [
                ledger.register_person(
                    {"full_name": f"Người {k}", "birth_date": "1980-01-01", "province": "01"}
                ).person_id
                for k in range(200)
            ]
            for mode, words in MODES:
                if mode == "none":
                    pair.standby.ctl("stop")
                elif mode == "async":
                    pair.standby.start()
                    pair.wait_streaming()
                else:
                    pair.primary.sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
                    pair.primary.sql("SELECT pg_reload_conf()")
                    pair.wait_streaming(state="sync")
                say(f"[postgresql] writes with {words}")
                baseline = None if mode == "none" else "replica_none_dose"
                result.add(
                    f"replica_{mode}_dose",
                    f"single doses in-process, {words}",
                    "doses/s",
                    repeat(repeats, lambda r, m=mode: single_rate(ledger, people, singles, f"{m}-{r}")),  # type: ignore[misc]
                    baseline,
                )
                result.add(
                    f"replica_{mode}_batch",
                    f"  batches of 1,000 doses, {words}",
                    "doses/s",
                    repeat(repeats, lambda r, m=mode: batch_rate(ledger, people, batches, 1000, f"{m}-b{r}")),  # type: ignore[misc]
                    None if mode == "none" else "replica_none_batch",
                )
    finally:
        pair.remove()
