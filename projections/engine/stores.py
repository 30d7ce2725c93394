"""A view's class for the store it is opened on, built from the view's declaration.

A view declares its tables and statements once, on a subclass of `Tables`; the engine adds the
store (`SQLiteTables` or `PostgresTables`), so no view writes a class per store.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from eventsourcing.sqlite import SQLiteFactory

from projections.engine.postgres import PostgresTables
from projections.engine.sqlite import SQLiteTables
from projections.engine.tables import Tables


@cache
def store_class(view_class: type[Tables], postgres: bool) -> type[Tables]:
    """`view_class` on SQLite or PostgreSQL (one class per view and store, made once)."""
    store: type[Tables] = PostgresTables if postgres else SQLiteTables
    name = f"{'Postgres' if postgres else 'SQLite'}{view_class.__name__}"
    return type(name, (view_class, store), {"__module__": view_class.__module__})


def construct_view(ledger: Any, projection: Any) -> Any:
    """A projection's view, in the ledger's own database (the same SQLite file, or the same
    PostgreSQL database and schema), sharing the ledger's connection pool."""
    postgres = not isinstance(ledger.factory, SQLiteFactory)
    view = ledger.factory.tracking_recorder(store_class(projection.view_class, postgres))
    view.opened_on(ledger)
    return view
