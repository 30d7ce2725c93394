"""The rate limits' counters in the store: shared by every process, atomic, pruned, subjects hidden."""

from __future__ import annotations

import threading
from pathlib import Path

from eventsourcing.postgres import PostgresDatastore

from store.rate_limits import TABLE, RateLimits
from store.secrets import Secrets
from usecases.application import DoseLedger

MID_MINUTE = 1_800_000_030.0  # half a minute into a window: a test's calls never straddle two


def counters(ledger: DoseLedger, secrets: Secrets, clock=lambda: MID_MINUTE) -> RateLimits:
    made = RateLimits(ledger.recorder.datastore, secrets=secrets, clock=clock)
    made.create_table()
    return made


def stored_counts(ledger: DoseLedger) -> list[tuple]:
    datastore = ledger.recorder.datastore
    table = f'"{datastore.schema}".{TABLE}' if isinstance(datastore, PostgresDatastore) else TABLE
    with ledger.recorder.datastore.transaction(commit=False) as c:
        c.execute(f"SELECT name, subject, window_start, calls FROM {table} ORDER BY window_start")
        return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in c.fetchall()]


def test_two_ledgers_on_one_store_count_the_same_calls(ledger, store_url, tmp_path: Path):
    secrets = Secrets(tmp_path / "secrets")
    other = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    try:
        first, second = counters(ledger, secrets), counters(other, secrets)
        assert [first.count("lookups", "principal-1", 60).calls for _ in range(2)] == [1, 2]
        assert second.count("lookups", "principal-1", 60).calls == 3
        assert first.count("lookups", "principal-1", 60).calls == 4
        assert second.count("lookups", "principal-2", 60).calls == 1  # another subject
        assert second.count("status_checks", "principal-1", 60).calls == 1  # another limit
        assert first.calls("lookups", "principal-1", 60) == second.calls("lookups", "principal-1", 60) == 4
    finally:
        other.close()


def test_calls_counted_at_once_from_many_threads_each_get_their_own_count(ledger, tmp_path: Path):
    limits = counters(ledger, Secrets(tmp_path / "secrets"))
    seen: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        for _ in range(10):
            calls = limits.count("lookups", "busy", 60).calls
            with lock:
                seen.append(calls)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(1, 41))


def test_a_new_window_starts_from_zero_and_the_old_ones_are_pruned(ledger, tmp_path: Path):
    now = [1_000_000.0]
    limits = counters(ledger, Secrets(tmp_path / "secrets"), clock=lambda: now[0])
    first = limits.count("lookups", "203.0.113.7", 60)
    limits.count("lookups", "203.0.113.7", 60)
    assert first.calls == 1 and 0 < first.retry_after <= 60
    assert first.retry_after == 20  # 1,000,000 s is 40 s into its minute
    now[0] += 60
    assert limits.count("lookups", "203.0.113.7", 60).calls == 1
    stored = stored_counts(ledger)
    assert [(r[0], r[2], r[3]) for r in stored] == [("lookups", 1_000_020, 1)]  # the old window is gone


def test_a_subject_is_stored_as_a_keyed_digest_never_as_it_came(ledger, tmp_path: Path):
    limits = counters(ledger, Secrets(tmp_path / "secrets"))
    limits.count("status_checks", "198.51.100.23", 60)
    stored = stored_counts(ledger)
    assert len(stored) == 1 and "198.51.100.23" not in str(stored)
    other_key = RateLimits(ledger.recorder.datastore, secrets=Secrets(tmp_path / "other"))
    assert stored[0][1] == limits.subject_digest("198.51.100.23") != other_key.subject_digest("198.51.100.23")


def test_workers_starting_together_all_create_the_table(ledger, tmp_path: Path):
    """Every worker creates it on start (idempotent); on a new PostgreSQL schema the catalogue
    would otherwise race."""
    secrets = Secrets(tmp_path / "secrets")
    barrier = threading.Barrier(6, timeout=30)
    failures: list[BaseException] = []

    def start() -> None:
        made = RateLimits(ledger.recorder.datastore, secrets=secrets)
        barrier.wait()
        try:
            made.create_table()
        except BaseException as e:  # noqa: BLE001 - collected, asserted below
            failures.append(e)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a worker hung creating the table"
    assert failures == []
    assert counters(ledger, secrets).count("lookups", "p", 60).calls == 1
