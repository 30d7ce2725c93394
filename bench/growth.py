"""Appends on a store that already holds millions of events.

  .venv/bin/python -m bench.growth --store sqlite|postgresql [--quick] [--json FILE] [--lock FILE]
      the growth runs alone (bench.served.grown), on a fresh store of 20,000 registered people;
      --lock: an exclusive flock on FILE held around each measurement, not the fillings

The single-dose (32 clients) and batch rates are measured the same way at each size, and the
store is filled between the measurements. The filling copies the store's latest 10,000 event
rows (real doses, site-record keys, registrations: what the runs before wrote) under fresh
random originator ids, by SQL (one statement for the whole copies, one for the rest). Seeding
5 M events through the ledger would take longer than the rest of the run (about 20 minutes at
the batch rate), and what growth tests is the events table and its two indexes, which the
copies grow as real rows do. The copies are never read by the measured requests (nobody doses
their "people"), as most of a national ledger's history is not read by today's doses either.

A bench database only: the copies break the hash chain of their streams on purpose
(`doseledger replay verify --all` would report every one of them).

The grown levels are measured between measurements of a store kept at the starting size
(`copy_of`: a second database, or SQLite file, copied from the store as the growth runs start,
and copied afresh for each of its measurements, which would otherwise grow it by their own
doses): a rate that drifts over the run's half hour then shows in the start store's own
measurements, and each grown level is read against the start measurements either side of it.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from bench import http
from store.url import is_postgres, persistence_env

if TYPE_CHECKING:
    from usecases.application import DoseLedger

SAMPLE = 10_000  # the latest rows, copied again and again


def fill(ledger: DoseLedger, target: int) -> int:
    """Copy event rows until the store holds about `target` events; returns the count."""
    recorder: Any = ledger.recorder  # SQLite's or PostgreSQL's, each with its own datastore
    have = ledger.head()
    missing = target - have
    if missing <= 0:
        return have
    if hasattr(recorder.datastore, "schema"):
        _fill_postgres(recorder, missing)
    else:
        _fill_sqlite(recorder, missing)
    _end_with_real_events(ledger)
    return ledger.head()


def _end_with_real_events(ledger: DoseLedger, people: int = 16) -> None:
    """A few people registered through the ledger after the copies. A ledger starting on the
    store checks its chain secret against the newest events (usecases.chain_key), and a copy
    under a fresh id chains to nothing: with real events newest, the filled store opens."""
    from ledger.values import Actor

    first = 9 * 10**8 + ledger.head()  # numbers no cohort of the bench uses
    items = [http.first_dose(k) for k in range(first, first + people)]
    outcomes = ledger.record_doses(items, actor=Actor("bench", "admin"))
    assert all(o.receipt is not None for o in outcomes), [o.error for o in outcomes if o.error]


def _fill_postgres(recorder: Any, missing: int) -> None:
    from psycopg.sql import SQL, Identifier

    table = SQL("{0}.{1}").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
    )
    with recorder.datastore.get_connection() as conn:
        sample = conn.execute(
            SQL("SELECT count(*) AS n FROM (SELECT 1 FROM {0} LIMIT %s) s").format(table), (SAMPLE,)
        ).fetchone()["n"]
        rounds, rest = divmod(missing, sample)
        for copies, limit in ((rounds, sample), (1, rest)):
            if copies and limit:
                conn.execute(
                    SQL(
                        "INSERT INTO {0} (originator_id, originator_version, topic, state) "
                        "SELECT gen_random_uuid(), s.originator_version, s.topic, s.state FROM "
                        "(SELECT originator_version, topic, state FROM {0} ORDER BY notification_id DESC "
                        "LIMIT %s) s CROSS JOIN generate_series(1, %s)"
                    ).format(table),
                    (limit, copies),
                )
        conn.execute(SQL("ANALYZE {0}").format(table))  # as autovacuum would, soon after


def _fill_sqlite(recorder: Any, missing: int) -> None:
    table = recorder.events_table_name
    with recorder.datastore.transaction(commit=True) as c:
        c.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT ?)", (SAMPLE,))
        sample = c.fetchone()[0]
        rounds, rest = divmod(missing, sample)
        for copies, limit in ((rounds, sample), (1, rest)):
            if copies and limit:
                c.execute(
                    f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                    f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
                    f"SELECT lower(hex(randomblob(16))), s.originator_version, s.topic, s.state FROM "
                    f"(SELECT originator_version, topic, state FROM {table} ORDER BY rowid DESC LIMIT ?) s, n",
                    (copies, limit),
                )
    try:
        with recorder.datastore.transaction(commit=True) as c:
            c.execute("ANALYZE")
    except sqlite3.Error:  # statistics are a help to the planner, not a need
        pass


@contextmanager
def copy_of(url: str) -> Iterator[str]:
    """A copy of the store at `url` (its events, keys and tokens), as a URL; dropped after."""
    if is_postgres(url):
        with _postgres_copy(url) as copied:
            yield copied
        return
    source = Path(persistence_env(url)["SQLITE_DBNAME"])
    target = source.with_name(f"{source.stem}-{uuid.uuid4().hex[:8]}{source.suffix}")
    # The backup API copies a consistent snapshot, the WAL's committed pages included.
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")  # as the ledger's stores are
    try:
        yield "sqlite:///" + str(target)
    finally:
        for path in (target, target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
            path.unlink(missing_ok=True)


@contextmanager
def _postgres_copy(url: str) -> Iterator[str]:
    """A database made from the store's own as a template (a file copy: seconds for 5 M events).
    A bench database only: the template's other sessions are ended first, as a template must
    have none (the bench's pools that outlived their use)."""
    import psycopg

    parts = urlsplit(url)
    source = persistence_env(url)["POSTGRES_DBNAME"]
    name = f"{source[:40]}_copy_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid()",
            (source,),
        )
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def interleaved(levels: tuple[int, ...]) -> list[int | None]:
    """The order of the measurements: the start store (None) before, between and after the
    grown levels, e.g. start, 1 M, start, 5 M, start."""
    return [None, *(step for level in levels for step in (level, None))]


def main() -> None:
    import argparse
    import json

    from bench.figures import Result, Sizes
    from bench.served import grown

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", choices=("sqlite", "postgresql"), required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="write the rows there too")
    parser.add_argument("--lock", help="a file to flock around each measurement (a shared machine)")
    args = parser.parse_args()
    sizes = Sizes.quick() if args.quick else Sizes.full()
    result = Result(args.store)
    with http.store(args.store) as url:
        token, _ = http.prepare(url, sizes.people)
        say = lambda line: print(line, flush=True)  # noqa: E731
        grown(args.store, url, sizes, token, result, say, lambda: _locked(args.lock))
    for key, row in result.rows.items():
        ratio = result.ratio(key)
        print(
            f"{key:28} {row.median:>12,.2f} {min(row.runs):>12,.2f}–{max(row.runs):<12,.2f} {row.unit:9}"
            + ("" if ratio is None else f" {ratio:.3f}×")
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {k: {**r.as_dict(), "ratio": result.ratio(k)} for k, r in result.rows.items()}, f, indent=1
            )


@contextmanager
def _locked(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    import fcntl
    import time

    with open(path, "a") as lock:
        waited = time.monotonic()
        fcntl.flock(lock, fcntl.LOCK_EX)
        print(f"  (waited {time.monotonic() - waited:.0f} s for the lock)", flush=True)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


if __name__ == "__main__":
    main()
