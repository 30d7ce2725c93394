"""Each pooled connection of the ledger's event store carries the store's own settings."""

from __future__ import annotations

from store import sqlite as sqlite_store


def test_every_pooled_connection_carries_the_store_s_settings(ledger):
    datastore = ledger.recorder.datastore
    if isinstance(ledger.recorder, sqlite_store.SQLiteLedgerRecorder):
        # Two connections at once: the pool makes a second one, settled as the first.
        with (
            datastore.get_connection(commit=False) as first,
            datastore.get_connection(commit=False) as second,
        ):
            for conn in (first, second):
                assert conn._sqlite_conn.execute("PRAGMA cache_size").fetchone()[0] == -65536
                assert conn._sqlite_conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 10_000
        assert sqlite_store.CONNECTION_PRAGMAS  # what the bench measured at 5 M events
    else:  # the library's pool sets its session settings on each connection it makes
        with datastore.get_connection() as first, datastore.get_connection() as second:
            for conn in (first, second):
                shown = conn.execute("SHOW idle_in_transaction_session_timeout").fetchone()
                wanted = datastore.idle_in_transaction_session_timeout
                assert wanted > 0 and next(iter(dict(shown).values())) == f"{wanted:g}s"
