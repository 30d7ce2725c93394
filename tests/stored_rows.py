"""Direct SQL on the events table: what someone with database access, and no business there, does.

The same operations on both stores (SQLite `stored_events`, PostgreSQL `doseledger_events` in the
test's schema). A row's state is the JSON the ledger stored.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import psycopg


class StoredRows:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme == "sqlite":
            self.conn: Any = sqlite3.connect(parts.path[1:], isolation_level=None)
            self.table, self.key = "stored_events", lambda stream: stream.hex
        else:
            schema = parse_qs(parts.query)["schema"][0]
            self.conn = psycopg.connect(url.split("?", 1)[0], autocommit=True)
            self.table, self.key = f'"{schema}".doseledger_events', lambda stream: stream
        self.placeholder = "?" if isinstance(self.conn, sqlite3.Connection) else "%s"

    def _sql(self, statement: str, *params: Any) -> list[Any]:
        cursor = self.conn.execute(statement.format(t=self.table).replace("?", self.placeholder), params)
        return cursor.fetchall() if cursor.description else []

    def row(self, stream: UUID, version: int) -> tuple[str, dict[str, Any]]:
        [(topic, state)] = self._sql(
            "SELECT topic, state FROM {t} WHERE originator_id=? AND originator_version=?",
            self.key(stream),
            version,
        )
        return topic, json.loads(bytes(state))

    def edit(self, stream: UUID, version: int, **changes: Any) -> None:
        _, state = self.row(stream, version)
        self.put_state(stream, version, json.dumps({**state, **changes}).encode())

    def put_state(self, stream: UUID, version: int, state: bytes) -> None:
        self._sql(
            "UPDATE {t} SET state=? WHERE originator_id=? AND originator_version=?",
            state,
            self.key(stream),
            version,
        )

    def set_topic(self, stream: UUID, version: int, topic: str) -> None:
        self._sql(
            "UPDATE {t} SET topic=? WHERE originator_id=? AND originator_version=?",
            topic,
            self.key(stream),
            version,
        )

    def delete(self, stream: UUID, version: int) -> None:
        self._sql("DELETE FROM {t} WHERE originator_id=? AND originator_version=?", self.key(stream), version)

    def shift(self, stream: UUID, from_version: int, by: int) -> None:
        """Renumber versions >= from_version by `by` (through negatives: the key stays unique)."""
        self._sql(
            "UPDATE {t} SET originator_version=-(originator_version+?) WHERE originator_id=? "
            "AND originator_version>=?",
            by,
            self.key(stream),
            from_version,
        )
        self._sql(
            "UPDATE {t} SET originator_version=-originator_version WHERE originator_id=? "
            "AND originator_version<0",
            self.key(stream),
        )

    def swap(self, stream: UUID, a: int, b: int) -> None:
        for old, new in ((a, -1), (b, a), (-1, b)):
            self._sql(
                "UPDATE {t} SET originator_version=? WHERE originator_id=? AND originator_version=?",
                new,
                self.key(stream),
                old,
            )

    def insert(self, stream: UUID, version: int, topic: str, state: dict[str, Any]) -> None:
        self._sql(
            "INSERT INTO {t} (originator_id, originator_version, topic, state) VALUES (?,?,?,?)",
            self.key(stream),
            version,
            topic,
            json.dumps(state).encode(),
        )

    def close(self) -> None:
        self.conn.close()
