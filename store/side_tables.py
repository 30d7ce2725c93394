"""A table of the store's own beside the events (counters, ended sessions): its statements in the
store's dialect and its idempotent creation. Rows there are state, not events: the ledger's log
is never touched by them."""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier

from store.postgres import schema_creation_lock


class SideTable:
    """One table named `table`, made from `columns`, in the ledger's own database (its datastore
    and connection pool)."""

    table: str
    columns: str

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        self.postgres = isinstance(datastore, PostgresDatastore)
        self._create = self._statement(f"CREATE TABLE IF NOT EXISTS {{t}} ({self.columns})")

    def _statement(self, text: str) -> Any:
        """`{t}` the table (in the store's schema), `{m}` a parameter, in the store's dialect."""
        if self.postgres:
            table = SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(self.table))
            return SQL(text.replace("{t}", "{table}").replace("{m}", "%s")).format(table=table)
        return text.replace("{t}", self.table).replace("{m}", "?")

    def create_table(self) -> None:
        """Idempotent; on PostgreSQL one process at a time (a new schema's catalogue races)."""
        if self.postgres:
            with schema_creation_lock(self.datastore), self.datastore.transaction(commit=True) as c:
                c.execute(self._create)
        else:
            with self.datastore.transaction(commit=True) as c:
                c.execute(self._create)
