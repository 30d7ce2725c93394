"""Replay and verify speed, on the demo data set, beside the library's own replay on the same store.

    .venv/bin/python -m bench.replay [--people 2000] [--runs 50] [URL ...]

Without URLs: a temporary SQLite file and a fresh schema on the local PostgreSQL
(DOSELEDGER_TEST_POSTGRES, default postgresql://postgres@127.0.0.1:5432/postgres), both removed
afterwards. Per store:
- one person with 50 events (registration, 30 doses, 12 amendments, 7 voids): the median time
  of `history` (every event with the state after it), `state_as_of` (one fold) and
  `verify_integrity`, against the library rebuilding the same aggregate from the store
  (`repository.get(id, version=…)`, no cache);
- `verify_all` over the whole store (median of 3): streams/s and events/s, against the library
  reading and decoding every stored event (`select_notifications` pages + `to_domain_event`).
Ratios matter more than absolute figures on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from cli.demo import seed
from ledger.values import Actor
from replay import history, state_as_of, verify_all, verify_integrity
from usecases.application import DoseLedger

ADMIN = Actor("bench", "admin")


def person_with_50_events(ledger: DoseLedger) -> uuid.UUID:
    pid = ledger.register_person(
        {"full_name": "Lê Văn Năm Mươi", "birth_date": "1950-05-05", "province": "79"}, actor=ADMIN
    ).person_id
    doses = []
    day = date(2021, 3, 8)
    for n in range(30):
        doses.append(
            ledger.record_dose(
                site_id="79-TYT-001",
                site_record_id=f"BENCH50-{uuid.uuid4().hex}",
                vaccine="EU/1/20/1528",
                administered_at=day.isoformat(),
                lot=f"L{n}",
                person_id=pid,
                actor=Actor("site:79-TYT-001", "site"),
            )
        )
        day += timedelta(days=14)
    for receipt in doses[:12]:
        ledger.amend_dose(receipt.dose_id, {"lot": "FIXED"}, "lot mistyped", actor=ADMIN)
    for receipt in doses[12:19]:
        ledger.void_dose(receipt.dose_id, "entered in error", actor=ADMIN)
    assert ledger.person(pid).version == 50
    return pid


def median_ms(action: Callable[[], Any], runs: int) -> float:
    action()  # warm: imports, prepared statements, the catalog
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def raw_read_rate(ledger: DoseLedger) -> float:
    """Events/s for the library reading and decoding every stored event, page by page."""
    started = time.perf_counter()
    n, last = 0, 0
    while True:
        page = ledger.recorder.select_notifications(last, 1000, inclusive_of_start=False)
        for notification in page:
            ledger.mapper.to_domain_event(notification)
        n += len(page)
        if len(page) < 1000:
            break
        last = page[-1].id
    return n / (time.perf_counter() - started)


def measure(url: str, people: int, runs: int) -> dict[str, Any]:
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": url})
    started = time.perf_counter()
    seed(ledger, people=people)
    pid = person_with_50_events(ledger)
    seeded_s = time.perf_counter() - started
    result: dict[str, Any] = {"events_in_store": ledger.head(), "seed_s": seeded_s}
    result["library_rebuild_ms"] = median_ms(lambda: ledger.repository.get(pid, version=50), runs)
    result["history_ms"] = median_ms(lambda: history(ledger, pid), runs)
    result["state_ms"] = median_ms(lambda: state_as_of(ledger, pid), runs)
    result["integrity_ms"] = median_ms(lambda: verify_integrity(ledger, pid), runs)
    reports = [verify_all(ledger) for _ in range(3)]
    assert all(r["consistent"] for r in reports)
    elapsed = statistics.median(r["elapsed_s"] for r in reports)
    result["verify_all_streams_per_s"] = reports[0]["streams"] / elapsed
    result["verify_all_events_per_s"] = reports[0]["events"] / elapsed
    result["library_read_events_per_s"] = statistics.median(raw_read_rate(ledger) for _ in range(3))
    result["streams"] = reports[0]["streams"]
    ledger.close()
    return result


@contextmanager
def default_stores() -> Iterator[list[str]]:
    import psycopg

    admin = os.environ.get("DOSELEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield [f"sqlite:///{tmp}/bench.db", f"{admin}?schema={schema}"]
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def report(url: str, r: dict[str, Any]) -> None:
    store = url.split("://")[0]
    print(
        f"\n{store}: {r['events_in_store']:,} events in {r['streams']:,} streams (seeded in {r['seed_s']:.1f} s)"
    )
    base = r["library_rebuild_ms"]
    print("  one person, 50 events (median):")
    print(f"    library rebuild (repository.get)  {base:7.2f} ms   1.00x")
    for key, name in (
        ("state_ms", "state_as_of (one fold)"),
        ("integrity_ms", "verify_integrity"),
        ("history_ms", "history (50 states)"),
    ):
        print(f"    {name:<33} {r[key]:7.2f} ms  {r[key] / base:5.2f}x")
    print(
        f"  verify --all (median of 3): {r['verify_all_streams_per_s']:,.0f} streams/s, "
        f"{r['verify_all_events_per_s']:,.0f} events/s; the library reading and decoding alone "
        f"{r['library_read_events_per_s']:,.0f} events/s "
        f"(ratio {r['verify_all_events_per_s'] / r['library_read_events_per_s']:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="*")
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    if args.urls:
        for url in args.urls:
            report(url, measure(url, args.people, args.runs))
        return
    with default_stores() as urls:
        for url in urls:
            report(url, measure(url, args.people, args.runs))


if __name__ == "__main__":
    main()
