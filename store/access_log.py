"""The access log's table: who read whose record, beside the events, never among them.

One row per person read: when, by which principal in which role, what was read (an endpoint or a
command), from which client address when known. Ids only: a name, a national id or a phone never
reaches this table (a look-up by phone is logged as the person ids it found). Rows are appended
and never changed, like events, but they are not events: projections and replay never step over
them, and a read never takes the events table's insert lock.

`position` numbers rows in the order the log learned of them; queries page on it. `event_position`
is set only on rows copied from the ledger's own log, where reads used to be stored as
`PersonDataRead` events; its unique index makes that copy safe to run again and from two
processes at once. `access_log_copied` holds how far the ledger's log has been copied from.

The table is made on first use (CREATE ... IF NOT EXISTS: idempotent, and on PostgreSQL under the
schema's creation lock), in the events' SQLite file or PostgreSQL schema, through the event
store's own connection pool.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from store.postgres import schema_creation_lock

TABLE = "access_log"
COPIED = "access_log_copied"
COLUMNS = ("read_at", "principal_id", "role", "person_id", "what", "client", "event_position")


@dataclass(frozen=True)
class AccessRow:
    """One person's record read once. `event_position`: the PersonDataRead event it was copied from."""

    read_at: datetime
    principal_id: str
    role: str
    person_id: str
    what: str
    client: str | None = None
    event_position: int | None = None
    position: int | None = None  # given by the table

    def values(self) -> tuple[Any, ...]:
        return (
            self.read_at,
            self.principal_id,
            self.role,
            self.person_id,
            self.what,
            self.client,
            self.event_position,
        )


@dataclass(frozen=True)
class AccessQuery:
    """Rows of one person, of one principal, or both; after `since_position`, oldest first."""

    person_id: str | None = None
    principal_id: str | None = None
    since_position: int = 0
    limit: int = 100
    # A paging session's end, fixed at its first page: reading the log logs reads, so a reader
    # paging through its own reads would otherwise never reach the end.
    until_position: int | None = None


class AccessLogTable(ABC):
    """The statements of the access log's table, for one store."""

    @abstractmethod
    def create_table(self) -> None:
        """Make the table, its indexes and the copy's mark if they are missing."""

    @abstractmethod
    def insert(self, rows: Sequence[AccessRow]) -> None:
        """Append rows in one transaction; a copied row already there is left as it is."""

    @abstractmethod
    def select(self, query: AccessQuery) -> list[AccessRow]:
        """The rows matching `query`, in position order."""

    @abstractmethod
    def last_position(self) -> int:
        """The newest row's position (0: none)."""

    @abstractmethod
    def copied_through(self) -> int:
        """The ledger's position up to which its PersonDataRead events are copied (0: none)."""

    @abstractmethod
    def mark_copied(self, position: int) -> None:
        """Say the ledger's log is copied up to `position` (never moves the mark back)."""


def _where(query: AccessQuery, mark: str) -> tuple[str, list[Any]]:
    conditions: list[str] = ["position > " + mark]
    params: list[Any] = [query.since_position]
    if query.until_position is not None:
        conditions.append("position <= " + mark)
        params.append(query.until_position)
    for column, value in (("person_id", query.person_id), ("principal_id", query.principal_id)):
        if value is not None:
            conditions.append(f"{column} = {mark}")
            params.append(value)
    return " AND ".join(conditions), params


class SQLiteAccessLog(AccessLogTable):
    """In the ledger's SQLite file; times stored as ISO text in UTC (they sort as they read)."""

    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} ("
                "position INTEGER PRIMARY KEY AUTOINCREMENT, read_at TEXT NOT NULL, "
                "principal_id TEXT NOT NULL, role TEXT NOT NULL, person_id TEXT NOT NULL, "
                "what TEXT NOT NULL, client TEXT, event_position INTEGER)"
            )
            c.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_person ON {TABLE} (person_id, position)")
            c.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_principal ON {TABLE} (principal_id, position)")
            c.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_from_events ON {TABLE} (event_position, person_id) "
                "WHERE event_position IS NOT NULL"
            )
            c.execute(f"CREATE TABLE IF NOT EXISTS {COPIED} (through INTEGER NOT NULL)")

    def insert(self, rows: Sequence[AccessRow]) -> None:
        if not rows:
            return
        statement = (
            f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
            "ON CONFLICT DO NOTHING"
        )
        values = [(r.read_at.astimezone(UTC).isoformat(), *r.values()[1:]) for r in rows]
        with self.datastore.transaction(commit=True) as c:
            c.executemany(statement, values)

    def select(self, query: AccessQuery) -> list[AccessRow]:
        where, params = _where(query, "?")
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT position, {', '.join(COLUMNS)} FROM {TABLE} WHERE {where} ORDER BY position LIMIT ?",
                [*params, query.limit],
            )
            return [
                AccessRow(
                    read_at=datetime.fromisoformat(row[1]),
                    principal_id=row[2],
                    role=row[3],
                    person_id=row[4],
                    what=row[5],
                    client=row[6],
                    event_position=row[7],
                    position=row[0],
                )
                for row in c.fetchall()
            ]

    def last_position(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT MAX(position) FROM {TABLE}")
            return int(c.fetchone()[0] or 0)

    def copied_through(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT MAX(through) FROM {COPIED}")
            return int(c.fetchone()[0] or 0)

    def mark_copied(self, position: int) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {COPIED} WHERE through < ?", (position,))
            c.execute(
                f"INSERT INTO {COPIED} (through) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM {COPIED})",
                (position,),
            )


class PostgresAccessLog(AccessLogTable):
    """In the ledger's PostgreSQL schema."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        schema = datastore.schema.replace('"', '""')
        self.table = f'"{schema}".{TABLE}'
        self.copied = f'"{schema}".{COPIED}'

    def create_table(self) -> None:
        statements = (
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "read_at TIMESTAMPTZ NOT NULL, principal_id TEXT NOT NULL, role TEXT NOT NULL, "
            "person_id TEXT NOT NULL, what TEXT NOT NULL, client TEXT, event_position BIGINT)",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_person ON {self.table} (person_id, position)",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_principal ON {self.table} (principal_id, position)",
            f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_from_events ON {self.table} (event_position, person_id) "
            "WHERE event_position IS NOT NULL",
            f"CREATE TABLE IF NOT EXISTS {self.copied} (through BIGINT NOT NULL)",
        )
        # Two processes making the table at once race in the catalogue even with IF NOT EXISTS.
        with schema_creation_lock(self.datastore), self.datastore.transaction(commit=True) as c:
            for statement in statements:
                c.execute(statement)

    def insert(self, rows: Sequence[AccessRow]) -> None:
        if not rows:
            return
        # One statement for the whole batch, its columns as arrays.
        statement = (
            f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) "
            "SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[], "
            "%s::text[], %s::bigint[]) ON CONFLICT DO NOTHING"
        )
        columns = [list(column) for column in zip(*(r.values() for r in rows), strict=True)]
        with self.datastore.transaction(commit=True) as c:
            # Positions are drawn when an insert starts, so two workers' batches could commit out
            # of order, and a reader following `since_position` would pass over the later commit's
            # lower positions for good. One batch at a time keeps positions in commit order (as the
            # events table's lock does); reads are not blocked, and a worker inserts ~10 times a second.
            c.execute(f"LOCK TABLE {self.table} IN EXCLUSIVE MODE")
            c.execute(statement, columns)

    def select(self, query: AccessQuery) -> list[AccessRow]:
        where, params = _where(query, "%s")
        statement = f"SELECT position, {', '.join(COLUMNS)} FROM {self.table} WHERE {where} ORDER BY position LIMIT %s"
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, [*params, query.limit])
            return [
                AccessRow(
                    read_at=row["read_at"],
                    principal_id=row["principal_id"],
                    role=row["role"],
                    person_id=row["person_id"],
                    what=row["what"],
                    client=row["client"],
                    event_position=row["event_position"],
                    position=row["position"],
                )
                for row in c.fetchall()
            ]

    def last_position(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT MAX(position) AS last FROM {self.table}")
            row = c.fetchone()
            return int(row["last"] or 0) if row is not None else 0

    def copied_through(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT MAX(through) AS through FROM {self.copied}")
            row = c.fetchone()
            return int(row["through"] or 0) if row is not None else 0

    def mark_copied(self, position: int) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"LOCK TABLE {self.copied} IN EXCLUSIVE MODE")
            c.execute(f"DELETE FROM {self.copied} WHERE through < %s", (position,))
            c.execute(
                f"INSERT INTO {self.copied} (through) SELECT %s WHERE NOT EXISTS (SELECT 1 FROM {self.copied})",
                (position,),
            )


def access_log_table(datastore: Any) -> AccessLogTable:
    """The access log's table beside an event store's (its recorder's `datastore`)."""
    if isinstance(datastore, PostgresDatastore):
        return PostgresAccessLog(datastore)
    if isinstance(datastore, SQLiteDatastore):
        return SQLiteAccessLog(datastore)
    raise TypeError(f"no access log for a {type(datastore).__name__}")
