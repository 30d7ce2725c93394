"""Numbered schema changes of the views' tables, applied once per store and recorded.

A view's tables are created as today's code has them; a store made by an earlier version is
brought there by the migrations it has not recorded, in order, in one transaction with the
record (the `view_migrations` table: one row per view and migration number). The engine's own
migrations (ENGINE_MIGRATIONS) concern every view; a view numbers its own after them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from projections.engine.statements import Sql


@dataclass(frozen=True)
class Migration:
    number: int
    what: str  # one line, kept with the record
    apply: Callable[[Any, Sql], None]  # (the view's Tables, its transaction)


def _compress_texts(view: Any, sql: Sql) -> None:
    view.compress_texts(sql)


ENGINE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "text columns compressed by lz4 (PostgreSQL)", _compress_texts),
)


def drop_table(table: str) -> Callable[[Any, Sql], None]:
    """A migration that drops a table an earlier version made (`table`: its full name)."""

    def apply(view: Any, sql: Sql) -> None:
        sql.run(f"DROP TABLE IF EXISTS {view._qualified(table)}")

    return apply


def migrate(view: Any, sql: Sql, migrations: Sequence[Migration]) -> list[int]:
    """Apply, in this transaction, the migrations the store has not recorded for the view;
    the numbers applied. (The caller keeps other writers out: PostgreSQL's schema creation
    lock, SQLite's write lock.)"""
    sql.run(
        "CREATE TABLE IF NOT EXISTS {migrations} (view TEXT NOT NULL, number INTEGER NOT NULL, "
        "what TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (view, number))"
    )
    done = {row["number"] for row in sql.rows("SELECT number FROM {migrations} WHERE view = ?", (view.name,))}
    applied = []
    for migration in migrations:
        if migration.number in done:
            continue
        migration.apply(view, sql)
        sql.run(
            "INSERT INTO {migrations} (view, number, what, applied_at) VALUES (?, ?, ?, ?)",
            (view.name, migration.number, migration.what, time.time()),
        )
        applied.append(migration.number)
    return applied
