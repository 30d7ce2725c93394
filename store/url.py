"""Storage is chosen by one URL, DOSELEDGER_DATABASE_URL, mapped to eventsourcing's settings.

sqlite:///var/ledger.db                       (the embedded default; relative to the cwd)
sqlite:////abs/path/ledger.db
postgresql://user:pass@host:port/db[?schema=name]
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_URL = "sqlite:///var/ledger.db"
URL_KEY = "DOSELEDGER_DATABASE_URL"


def database_url(env: dict[str, str] | None = None) -> str:
    return (env or {}).get(URL_KEY) or os.environ.get(URL_KEY) or DEFAULT_URL


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme in ("postgresql", "postgres", "postgresql+psycopg")


def persistence_env(url: str) -> dict[str, str]:
    """eventsourcing's own keys (PERSISTENCE_MODULE, SQLITE_DBNAME, POSTGRES_*) for a URL."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        path = path[1:]  # sqlite:///var/x.db is relative, sqlite:////tmp/x.db absolute
        if not path:
            raise ValueError(f"{URL_KEY}: no file in {url!r}")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "APPLICATION_RECORDER_TOPIC": "store.sqlite:SQLiteLedgerRecorder",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    if is_postgres(url):
        query = parse_qs(parts.query)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": "store.postgres:PostgresLedgerRecorder",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_SCHEMA": query.get("schema", ["public"])[0],
            # A writer waiting on the events table lock gives up (and the API answers 503)
            # rather than hang: the library's default of 0 waits forever.
            "POSTGRES_LOCK_TIMEOUT": query.get("lock_timeout", ["10"])[0],
            # How long a request waits for a pooled connection (and a new connection for the
            # server) before it fails and the API answers 503. The library's default of 30 s
            # held every request for 30 s while PostgreSQL was down (tests/reliability).
            "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", ["5"])[0],
            "POSTGRES_POOL_SIZE": query.get("pool_size", ["5"])[0],
            "POSTGRES_MAX_OVERFLOW": query.get("max_overflow", ["10"])[0],
            "POSTGRES_ENABLE_DB_FUNCTIONS": "no",
        }
        return env
    raise ValueError(f"{URL_KEY}: unsupported scheme in {url!r} (use sqlite:/// or postgresql://)")
