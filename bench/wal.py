"""What the ledger's writes put in PostgreSQL's WAL, told apart from the rest of the server's.

The server is shared (other databases' tests write beside a measurement), so the distance
between two WAL positions counts everyone's writes. `pg_waldump` reads the records between the
two positions and this module keeps those of one database: each record naming a relation of
that database, and the commit records of the transactions that wrote them. A full-page image
written after a checkpoint is in its record's length, so the figure includes them as a store
running for days would have them (about one per page touched after each checkpoint).

`python -m bench.wal [people]` seeds a store as bench.footprint does and prints the bytes per
write (`writes`). It needs the server's WAL folder readable (the same machine, run as root or the postgres user);
`readable()` says whether it is, and `between` then answers the database's bytes and the
server's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

RECORD = re.compile(r"len \(rec/tot\):\s*\d+/\s*(\d+), tx:\s*(\d+),")
RELATION = re.compile(r"rel \d+/(\d+)/\d+")


@dataclass(frozen=True)
class Wal:
    database: int  # bytes of the records of the measured database (and their commits)
    server: int  # bytes between the two positions: every database's

    def per(self, count: int) -> float:
        return self.database / count if count else 0.0


def _admin(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url.split("?")[0], autocommit=True)


def _one(conn: psycopg.Connection[Any], statement: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(statement, params).fetchone()
    if row is None:
        raise RuntimeError(f"no row from {statement!r}")
    return row[0]


def waldump(url: str) -> tuple[str, str] | None:
    """(pg_waldump, the WAL folder) when both are at hand, else None."""
    with _admin(url) as conn:
        try:
            folder = os.path.join(str(_one(conn, "SHOW data_directory")), "pg_wal")
        except psycopg.Error:  # not a superuser: the folder is not ours to read
            return None
        major = str(_one(conn, "SHOW server_version_num"))[:-4]
    binary = shutil.which("pg_waldump") or f"/usr/lib/postgresql/{major}/bin/pg_waldump"
    if not (os.access(binary, os.X_OK) and os.access(folder, os.R_OK | os.X_OK)):
        return None
    return binary, folder


def readable(url: str) -> bool:
    return waldump(url) is not None


def between(url: str, action: Callable[[], Any]) -> Wal:
    """Run `action`; the WAL its database wrote meanwhile (and the server's, for comparison)."""
    tools = waldump(url)
    if tools is None:
        raise RuntimeError("pg_waldump or the server's WAL folder is not at hand on this machine")
    binary, folder = tools
    with _admin(url) as conn:
        # A temporary slot keeps the range's WAL from being recycled by a checkpoint meanwhile
        # (the server writes ~16 MB a minute for everyone); it goes with this session.
        _one(
            conn,
            "SELECT pg_create_physical_replication_slot(%s, true, true)",
            (f"wal_{uuid.uuid4().hex[:12]}",),
        )
        oid = str(_one(conn, "SELECT oid FROM pg_database WHERE datname = current_database()"))
        start = str(_one(conn, "SELECT pg_current_wal_lsn()"))
        action()
        end = str(_one(conn, "SELECT pg_current_wal_insert_lsn()"))
        server = int(_one(conn, "SELECT pg_wal_lsn_diff(%s, %s)", (end, start)))
        # pg_waldump reads the files: a commit that waits for the disk flushes every record
        # before `end` (the views commit without waiting; theirs could still be in memory).
        conn.execute("SELECT txid_current()")
        dumped = subprocess.run(
            [binary, "-p", folder, "-s", start, "-e", end], capture_output=True, text=True, check=False
        )
    if dumped.returncode != 0:
        raise RuntimeError(f"pg_waldump could not read {start}..{end}: {dumped.stderr.strip()[:300]}")
    return Wal(database=attributed(dumped.stdout, oid), server=server)


def writes(url: str, people: int = 2000, doses: int = 1000) -> dict[str, float]:
    """WAL bytes per write on a store seeded as bench.footprint seeds it: a single dose (its own
    transaction), a dose in a batch of 1,000, the views (with the issuer signing) applying those
    doses, an access-log row (written 100 a transaction, as the buffered log does), and a
    rebuild of every view, per stored event."""
    from bench.footprint import issuing, seed
    from projections.running import rebuild
    from store.access_log import AccessRow, access_log_table
    from usecases.application import DoseLedger

    _, ids = seed(url, people)
    chosen = [ids[k % len(ids)] for k in range(doses)]

    def dose(k: int, person: str, kind: str) -> dict[str, Any]:
        return {
            "person_id": person,
            "site_id": "01-TYT-001",
            "site_record_id": f"WAL-{kind}-{k}",
            "vaccine": "EU/1/20/1528",
            "lot": "FA1234",
            "administered_at": "2022-03-01",
        }

    found: dict[str, float] = {}
    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": url}) as ledger:
        single = between(url, lambda: [ledger.record_dose(**dose(k, p, "s")) for k, p in enumerate(chosen)])
        found["single_dose"] = single.per(doses)
        found["single_dose_server"] = single.server / doses
        batch = between(url, lambda: ledger.record_doses([dose(k, p, "b") for k, p in enumerate(chosen)]))
        found["batched_dose"] = batch.per(doses)
        with issuing(url, ledger) as issued:
            found["views_per_dose"] = between(url, issued).per(2 * doses)
        log = access_log_table(ledger.recorder.datastore)
        now = datetime.now(UTC)
        rows = [
            AccessRow(now, "5b0e6a0c-2f0e-4c55-9a53-0f5bb1a1c001", "site", p, "certificate", "203.0.113.7")
            for p in chosen
        ]
        found["access_row"] = between(
            url, lambda: [log.insert(rows[s : s + 100]) for s in range(0, len(rows), 100)]
        ).per(len(rows))
        events = ledger.head() or 0
    found["rebuild_per_event"] = between(url, lambda: rebuild(url, "all", progress=False)).per(events)
    return found


def attributed(dump: str, oid: str) -> int:
    """The bytes of `dump`'s records that touch database `oid`, with their transactions' other
    records (the commit)."""
    ours: set[str] = set()
    records: list[tuple[int, str, bool]] = []
    for line in dump.splitlines():
        found = RECORD.search(line)
        if found is None:
            continue
        size, tx = int(found.group(1)), found.group(2)
        mine = any(db == oid for db in RELATION.findall(line))
        if mine and tx != "0":
            ours.add(tx)
        records.append((size, tx, mine))
    return sum(size for size, tx, mine in records if mine or (tx != "0" and tx in ours))


if __name__ == "__main__":
    import json
    import sys

    from bench.http import store

    with store("postgresql") as url:
        if not readable(url):
            sys.exit("pg_waldump or the server's WAL folder is not at hand: run on the database's machine")
        print(json.dumps(writes(url, int(sys.argv[1]) if len(sys.argv) > 1 else 2000), indent=1))
