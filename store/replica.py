"""A hot standby that serves the read side: its connections, and how far behind it is.

The read URL (DOSELEDGER_READ_DATABASE_URL) names a PostgreSQL streaming standby of the write
URL's database, with the same database and schema. The views' reads go there (the projections'
rows and tracking positions commit together, and a standby replays commits whole and in order,
so a view's position read on the standby says which rows it serves); the ledger's writes, the
projector, its tracking and runner rows stay on the primary. SQLite has no standby: a read URL
other than the write URL is refused there.

A standby refuses writes and DDL (`pg_is_in_recovery()` is true there): `doseledger project`
checks for it before running (`refuse_standby`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from eventsourcing.postgres import PostgresDatastore

from store import library
from store.url import is_postgres, persistence_env, postgres_hosts

READ_URL_KEY = "DOSELEDGER_READ_DATABASE_URL"
WRITE_URL_KEY = "DOSELEDGER_DATABASE_URL"


class ReplicaRefused(ValueError):
    """A read URL that cannot serve the write URL's reads (the message names the variable)."""


def separate_read_url(write_url: str, read_url: str | None) -> str | None:
    """The read URL when reads go to another server than writes; None when they share one
    (unset, or the write URL itself). Raises ReplicaRefused for a pair that cannot work."""
    if not read_url or read_url == write_url:
        return None
    if not is_postgres(write_url) or not is_postgres(read_url):
        raise ReplicaRefused(
            f"{READ_URL_KEY}: SQLite has no read replica; leave it unset or equal to {WRITE_URL_KEY}"
        )
    write, read = urlsplit(write_url), urlsplit(read_url)
    if (write.path.lstrip("/") or "postgres") != (read.path.lstrip("/") or "postgres"):
        raise ReplicaRefused(f"{READ_URL_KEY}: a standby serves the same database as {WRITE_URL_KEY}")
    if _schema(write.query) != _schema(read.query):
        raise ReplicaRefused(f"{READ_URL_KEY}: the schema must be the one {WRITE_URL_KEY} names")
    if len(postgres_hosts(read.netloc)[2]) > 1 and _session_attrs(read.query) != "standby":
        # A min_position read checks the views' position on one pooled connection and reads on
        # another: both must be on the same standby's replay, never one on the primary (always
        # ahead) and the other on a standby behind it, as prefer-standby or read-only would mix.
        raise ReplicaRefused(
            f"{READ_URL_KEY}: several hosts need target_session_attrs=standby (reads must stay on standbys)"
        )
    return read_url


def _schema(query: str) -> str:
    return parse_qs(query).get("schema", ["public"])[0]


def _session_attrs(query: str) -> str:
    return parse_qs(query).get("target_session_attrs", [""])[0]


def open_read_datastore(read_url: str) -> PostgresDatastore:
    """A connection pool on the standby, configured as the ledger's is on the primary: the
    URL's `target_session_attrs` and each host's connect timeout too (`library.connect_as`)."""
    env = persistence_env(read_url)
    datastore = PostgresDatastore(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        connect_timeout=float(env["POSTGRES_CONNECT_TIMEOUT"]),
        pool_size=int(env["POSTGRES_POOL_SIZE"]),
        max_overflow=int(env["POSTGRES_MAX_OVERFLOW"]),
        # A standby restarted or promoted drops its sessions: a dead pooled connection is
        # replaced rather than handed to a read.
        pre_ping=True,
        schema=env["POSTGRES_SCHEMA"],
    )
    if env["POSTGRES_TARGET_SESSION_ATTRS"]:
        library.connect_as(
            datastore, env["POSTGRES_TARGET_SESSION_ATTRS"], float(env["POSTGRES_CONNECT_TIMEOUT"])
        )
    return datastore


def connection_keywords(url: str) -> dict[str, Any]:
    """psycopg's keywords for one connection to the PostgreSQL store at `url`, as the ledger's
    pool makes them (store.postgres): every host listed, the URL's `target_session_attrs`, and
    the connect timeout given to each host in turn."""
    env = persistence_env(url)
    keywords: dict[str, Any] = {
        "dbname": env["POSTGRES_DBNAME"],
        "host": env["POSTGRES_HOST"],
        "port": env["POSTGRES_PORT"],
        "user": env["POSTGRES_USER"],
        "password": env["POSTGRES_PASSWORD"],
        "connect_timeout": max(1, round(float(env["POSTGRES_CONNECT_TIMEOUT"]))),
    }
    if env["POSTGRES_TARGET_SESSION_ATTRS"]:
        keywords["target_session_attrs"] = env["POSTGRES_TARGET_SESSION_ATTRS"]
    return keywords


def standby_reached(url: str) -> str | None:
    """ "host:port" of the server a connection to `url` settles on, when it is a standby; None
    when it is not (or the store is SQLite). With several hosts libpq picks one as the URL's
    `target_session_attrs` asks: the one named is the one that answered."""
    if not is_postgres(url):
        return None
    with psycopg.connect(**connection_keywords(url), autocommit=True) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        if not (row and row[0]):
            return None
        return f"{conn.info.host}:{conn.info.port}"


def in_recovery(url: str) -> bool:
    """Whether the PostgreSQL server `url` connects to is a standby (False for SQLite)."""
    return standby_reached(url) is not None


class StandbyRefused(RuntimeError):
    """The store named is a standby, where this job cannot write."""


def refuse_standby(url: str, job: str) -> None:
    """Raise StandbyRefused when `url` is a standby (the message has no credentials in it)."""
    standby = standby_reached(url)
    if standby is not None:
        raise StandbyRefused(
            f"{job} writes, and the database at {standby} is a standby (pg_is_in_recovery()): "
            f"point {WRITE_URL_KEY} at the primary, or list several hosts with "
            "target_session_attrs=read-write"
        )


def lsn(text: str | None) -> int | None:
    """A WAL location (`16/B374D848`) as a byte offset."""
    if not text:
        return None
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


STANDBY = (
    "SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_receive_lsn()::text AS received, "
    "pg_last_wal_replay_lsn()::text AS replayed, "
    "extract(epoch FROM pg_last_xact_replay_timestamp())::float8 AS replayed_commit_at, "
    "pg_get_wal_replay_pause_state() AS pause_state, "
    "extract(epoch FROM now())::float8 AS now, "
    "(SELECT row_to_json(c)::text FROM (SELECT confl_lock AS lock, confl_snapshot AS snapshot, "
    "confl_bufferpin AS bufferpin, confl_deadlock AS deadlock, confl_tablespace AS tablespace "
    "FROM pg_stat_database_conflicts WHERE datname = current_database()) c) AS conflicts"
)
PRIMARY = (
    "SELECT pg_current_wal_lsn()::text AS head, application_name, state, sync_state, "
    "replay_lsn::text AS replayed, extract(epoch FROM replay_lag)::float8 AS replay_lag "
    "FROM (SELECT 1) one LEFT JOIN pg_stat_replication ON true ORDER BY application_name"
)


def replica_lag(primary: PostgresDatastore, standby: PostgresDatastore) -> dict[str, Any]:
    """How far the standby's replay is behind the primary.

    {state: streaming|paused|not-a-standby|unreachable, bytes_behind (the primary's WAL head less
    the standby's replay location), unreplayed_bytes (received, not yet replayed),
    replay_age_seconds (since the commit last replayed, while behind; 0 when caught up),
    paused, standbys (the primary's pg_stat_replication: name, state, sync, bytes behind, lag),
    conflicts (the standby's reads of this database it cancelled for its replay since its
    statistics were reset, by kind: pg_stat_database_conflicts), error}."""
    found: dict[str, Any] = {
        "state": "unreachable",
        "bytes_behind": None,
        "unreplayed_bytes": None,
        "replay_age_seconds": None,
        "paused": None,
        "standbys": [],
        "conflicts": None,
        "error": None,
    }
    try:
        with primary.get_connection() as conn:
            rows = conn.execute(PRIMARY).fetchall()
        with standby.get_connection() as conn:
            row = conn.execute(STANDBY).fetchone()
    except Exception as error:  # noqa: BLE001 - a standby down is a status to report, not a failure
        found["error"] = type(error).__name__
        return found
    head = lsn(rows[0]["head"]) if rows else None
    found["standbys"] = [
        {
            "name": r["application_name"],
            "state": r["state"],
            "sync_state": r["sync_state"],
            "bytes_behind": _behind(head, lsn(r["replayed"])),
            "replay_lag_seconds": r["replay_lag"],
        }
        for r in rows
        if r["application_name"] is not None
    ]
    if row is None or not row["in_recovery"]:
        found["state"] = "not-a-standby"
        return found
    if row["conflicts"]:
        found["conflicts"] = json.loads(row["conflicts"])
    received, replayed = lsn(row["received"]), lsn(row["replayed"])
    behind = _behind(head, replayed)
    found["bytes_behind"] = behind
    found["unreplayed_bytes"] = _behind(received, replayed)
    found["paused"] = row["pause_state"] != "not paused"
    found["state"] = "paused" if found["paused"] else "streaming"
    committed_at = row["replayed_commit_at"]
    found["replay_age_seconds"] = (
        max(row["now"] - committed_at, 0.0) if behind and committed_at is not None else 0.0
    )
    return found


def _behind(ahead: int | None, behind: int | None) -> int | None:
    return None if ahead is None or behind is None else max(ahead - behind, 0)
