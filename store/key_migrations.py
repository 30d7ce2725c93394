"""How far each key table's copy of an older store's key events has gone.

Stores written before a key table (store.site_records, store.person_keys) hold its keys as
events; each start copies those after the position reached last time. `key_migrations` keeps,
per copy (its name), that position: one table, shared by every key table's copy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eventsourcing.postgres import PostgresDatastore

MIGRATIONS = "key_migrations"  # (name, done_at, position): how far old key streams are copied

SQLITE_TABLES = (
    f"CREATE TABLE IF NOT EXISTS {MIGRATIONS} (name TEXT PRIMARY KEY, done_at TEXT NOT NULL, "
    "position INTEGER NOT NULL DEFAULT 0)",
)


def postgres_tables(schema: str) -> tuple[str, ...]:
    return (
        f'CREATE TABLE IF NOT EXISTS "{schema}".{MIGRATIONS} (name text PRIMARY KEY, '
        "done_at timestamptz NOT NULL, position bigint NOT NULL DEFAULT 0)",
        # A table made before the position was kept: 0, so its claims are all copied again once.
        f'ALTER TABLE "{schema}".{MIGRATIONS} ADD COLUMN IF NOT EXISTS position bigint NOT NULL DEFAULT 0',
    )


class KeyMigrations:
    """The copies' positions, in one database (the event store's own datastore)."""

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        self._postgres = isinstance(datastore, PostgresDatastore)
        if self._postgres:
            migrations, p, highest = f'"{datastore.schema}".{MIGRATIONS}', "%s", "GREATEST"
        else:
            migrations, p, highest = MIGRATIONS, "?", "MAX"
        self._done = f"SELECT position FROM {migrations} WHERE name = {p}"
        self._mark = (
            f"INSERT INTO {migrations} (name, done_at, position) VALUES ({p}, {p}, {p}) "
            "ON CONFLICT (name) DO UPDATE SET done_at = excluded.done_at, "
            f"position = {highest}({migrations}.position, excluded.position)"
        )

    def keep_position(self) -> None:
        """Give a SQLite table made before the position was kept its position column (0: every
        claim is copied again once). PostgreSQL's is added with the tables."""
        if self._postgres:
            return
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(f"PRAGMA table_info({MIGRATIONS})")
            if any(row["name"] == "position" for row in curs.fetchall()):
                return
            try:
                curs.execute(f"ALTER TABLE {MIGRATIONS} ADD COLUMN position INTEGER NOT NULL DEFAULT 0")
            except Exception as e:
                if "duplicate column" not in str(e):
                    raise

    def copied_up_to(self, name: str) -> int:
        """The position up to which copy `name` has copied the old key events (0: none yet)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._done, (name,))
            row = curs.fetchone()
            return int(row["position"]) if row is not None else 0

    def mark_copied(self, name: str, position: int) -> None:
        """Copy `name` has copied the old key events up to `position` (a lower position never
        replaces a higher one: two processes copying at once)."""
        now = datetime.now(UTC)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._mark, (name, now if self._postgres else now.isoformat(), position))
