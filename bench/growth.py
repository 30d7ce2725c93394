"""Appends on a store that already holds millions of events.

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
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

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
    return ledger.head()


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
