"""Storage is chosen by one URL, DOSELEDGER_DATABASE_URL, mapped to eventsourcing's settings.

sqlite:///var/ledger.db                       (the embedded default; relative to the cwd)
sqlite:////abs/path/ledger.db
postgresql://user:pass@host:port/db[?schema=name]
postgresql://user@h1:5434,h2:5435/db?target_session_attrs=read-write
                                              (libpq's multi-host form: the first host that
                                              answers as asked, so a promoted standby is
                                              found without a restart; docs/FAILOVER.md)
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

# libpq's values (PostgreSQL 14+): which of several hosts a connection settles on.
SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")

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
        user, password, hosts, ports = postgres_hosts(parts.netloc)
        attrs = query.get("target_session_attrs", [""])[0]
        if attrs and attrs not in SESSION_ATTRS:
            raise ValueError(
                f"{URL_KEY}: target_session_attrs must be one of {', '.join(SESSION_ATTRS)}, not {attrs!r}"
            )
        env = {
            # The library's factory, and libpq's target_session_attrs handed to its pool
            # (store.postgres.LedgerPostgresFactory): the library has no setting for it.
            "PERSISTENCE_MODULE": "store.postgres:LedgerPostgresFactory",
            "APPLICATION_RECORDER_TOPIC": "store.postgres:PostgresLedgerRecorder",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
            # Several hosts pass through as libpq's lists ("h1,h2" and "5434,5435"): the
            # library hands host and port to psycopg as they are.
            "POSTGRES_HOST": ",".join(hosts),
            "POSTGRES_PORT": ",".join(ports),
            "POSTGRES_USER": user,
            "POSTGRES_PASSWORD": password,
            "POSTGRES_TARGET_SESSION_ATTRS": attrs,
            # With several hosts, a pooled connection is checked as it is taken (the library's
            # pre-ping): those left to a primary that died are discarded at once rather than
            # failing a write each (docs/FAILOVER.md).
            "POSTGRES_PRE_PING": query.get("pre_ping", ["yes" if len(hosts) > 1 else "no"])[0],
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


def postgres_hosts(netloc: str) -> tuple[str, str, list[str], list[str]]:
    """(user, password, hosts, ports) of a URL's netloc, one host or libpq's several.

    `urlsplit` reads one host and port only (`h1:5434,h2:5435` has no port it can parse)."""
    credentials, _, place = netloc.rpartition("@")
    user, _, password = credentials.partition(":")
    hosts: list[str] = []
    ports: list[str] = []
    for entry in (place or "127.0.0.1").split(","):
        if entry.startswith("["):  # [::1]:5432
            host, _, rest = entry[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = entry.partition(":")
        if port and not port.isdigit():
            raise ValueError(f"{URL_KEY}: the port of host {len(hosts) + 1} in the URL is not a number")
        hosts.append(unquote(host) or "127.0.0.1")
        ports.append(port or "5432")
    return unquote(user or "postgres"), unquote(password), hosts, ports
