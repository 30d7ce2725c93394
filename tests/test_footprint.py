"""bench.footprint and bench.wal: the bytes docs/SCALE.md's model is built from, re-measurable."""

from __future__ import annotations

import psycopg
import pytest

from bench import wal
from bench.footprint import footprint
from projections.views import PROJECTIONS


def test_the_footprint_counts_every_table_of_the_store_once(store_url):
    found = footprint(store_url, 40)

    assert found.mix["people"] == 40 and found.mix["doses"] >= 40
    kinds = {topic.rsplit(":", 1)[1] for topic in found.topics}
    # The mix: registrations, doses, their keys, corrections, and the issuer's signed versions.
    assert {"Person.Registered", "Person.DoseRecorded", "Issuance.Issued"} <= kinds
    assert {"Person.DoseAmended", "Person.DoseVoided", "Person.DetailsCorrected"} <= kinds
    assert found.events == sum(n for n, _ in found.topics.values()) > 3 * 40
    # Every byte of the events' table and indexes lands on one topic or another.
    assert sum(found.per_topic()[t] * n for t, (n, _) in found.topics.items()) == pytest.approx(
        found.total("events")
    )
    assert found.total("events") >= sum(size for _, size in found.topics.values())
    groups = ("events", "data keys", "site-record keys", "national-id keys", "identity keys", "access log")
    for group in (*groups, *PROJECTIONS):
        assert found.total(group) > 0, group
    if found.store == "postgresql":
        # The keys made from personal data are rows of their tables: no key stream is claimed.
        keys = sum(n for t, (n, _) in found.topics.items() if t.startswith("ledger.keys:") and "Claimed" in t)
        assert keys == 0 and found.key_table["rows"] > 0
        assert 0 < found.key_table["total"] < found.total("events")
    assert found.rebuild_events_per_s > 0


def test_sealing_shows_in_a_registration_s_bytes(store_url, another_store_url):
    sealed = footprint(store_url, 20).topics["ledger.person:Person.Registered"]
    clear = footprint(another_store_url, 20, sealed=False).topics["ledger.person:Person.Registered"]

    assert sealed[0] == clear[0] == 20
    assert sealed[1] > clear[1]  # the sealed fields, their key's id and the cipher's overhead


def test_the_wal_of_one_database_is_told_from_the_server_s():
    dump = "\n".join(
        [
            "rmgr: Heap        len (rec/tot):     79/    79, tx:        901, lsn: 0/01000028, prev 0/01000000, "
            "desc: INSERT off 3 flags 0x00, blkref #0: rel 1663/16384/16390 blk 0",
            "rmgr: Btree       len (rec/tot):     64/  8256, tx:        901, lsn: 0/01000078, prev 0/01000028, "
            "desc: INSERT_LEAF off 2, blkref #0: rel 1663/16384/16395 blk 1 FPW",
            "rmgr: Heap        len (rec/tot):     79/    79, tx:        902, lsn: 0/010020B8, prev 0/01000078, "
            "desc: INSERT off 4 flags 0x00, blkref #0: rel 1663/99999/16390 blk 0",
            "rmgr: Transaction len (rec/tot):     34/    34, tx:        901, lsn: 0/01002108, prev 0/010020B8, "
            "desc: COMMIT 2026-12-06 04:00:00.000000 UTC",
            "rmgr: Transaction len (rec/tot):     34/    34, tx:        902, lsn: 0/01002130, prev 0/01002108, "
            "desc: COMMIT 2026-12-06 04:00:00.000001 UTC",
            "rmgr: Standby     len (rec/tot):     50/    50, tx:          0, lsn: 0/01002158, prev 0/01002130, "
            "desc: RUNNING_XACTS nextXid 903",
        ]
    )

    assert wal.attributed(dump, "16384") == 79 + 8256 + 34
    assert wal.attributed(dump, "99999") == 79 + 34


def test_a_database_s_writes_are_found_in_the_wal(postgres_database):
    assert wal.readable(postgres_database), "run the tests on the database's machine, as root or postgres"
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS wal_probe (n int, filler text)")

        def write() -> None:
            conn.execute("INSERT INTO wal_probe SELECT g, repeat('x', 100) FROM generate_series(1, 1000) g")

        found = wal.between(postgres_database, write)
        conn.execute("DROP TABLE wal_probe")

    assert 1000 * 100 < found.database <= found.server  # a thousand rows of 100-byte text, at least
