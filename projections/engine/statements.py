"""The statement dialect every view writes its SQL in, once for both stores.

`{table}` names (a view's short table names, `{ids}` and `{rows}` for lists) and `?`
placeholders, which `Sql` turns into what the store runs: on PostgreSQL `$1, $2...`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CHUNK = 500  # ids per IN (...) list
ROWS = 250  # rows per multi-row INSERT (psycopg's executemany pays ~50 µs of Python per row)


class Sql:
    """Runs a view's statements on one cursor: `{table}` names and `?` placeholders.

    On PostgreSQL the cursor is psycopg's `RawCursor` and `?` becomes `$1, $2...`: psycopg then
    sends the text as it is. Its default cursor rewrites `%s` into `$n` on every execute and
    caches that only for statements under 4 kB, which a multi-row INSERT of a page is not
    (that rewriting was a quarter of a statistics rebuild).
    """

    def __init__(self, cursor: Any, names: dict[str, str], postgres: bool, cache: dict[Any, str]):
        self.cursor = cursor
        self.names = names
        self.postgres = postgres
        self.cache = cache  # statement text as written → as this store runs it

    def _text(self, statement: str, marks: int = 0, width: int = 0) -> str:
        text = self.cache.get((statement, marks, width))
        if text is None:
            row = "(" + ",".join("?" * width) + ")"
            text = statement.format(ids=",".join("?" * marks), rows=",".join([row] * marks), **self.names)
            if self.postgres:  # a raw cursor: PostgreSQL's own $n, which psycopg sends as written
                parts = text.split("?")
                text = "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], start=1)) + parts[-1]
            self.cache[(statement, marks, width)] = text
        return text

    def _fetch(self, text: str, params: Sequence[Any]) -> list[Any]:
        """Every row of one statement (a standby's `Sql` runs it again after a recovery
        conflict: engine/standby_reads.py)."""
        self.cursor.execute(text, params)
        found: list[Any] = self.cursor.fetchall()
        return found

    def _execute(self, text: str, params: Sequence[Any]) -> Any:
        """The cursor, having run one statement (a standby's `Sql` runs it again likewise)."""
        self.cursor.execute(text, params)
        return self.cursor

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        found = self._fetch(self._text(statement), tuple(params))
        return found if self.postgres else [dict(row) for row in found]

    def rows_in(self, statement: str, ids: Sequence[Any], params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """`statement` has `({ids})`; it runs once per chunk of ids (params come after the ids)."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            rows = self._fetch(self._text(statement, len(chunk)), (*chunk, *params))
            found.extend(rows if self.postgres else (dict(row) for row in rows))
        return found

    def run(self, statement: str, params: Sequence[Any] = ()) -> int:
        return int(self._execute(self._text(statement), tuple(params)).rowcount)

    def run_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self._text(statement), [tuple(r) for r in rows])

    def run_in(self, statement: str, ids: Sequence[Any]) -> None:
        """`statement` has `({ids})`; it runs once per chunk of ids."""
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            self._execute(self._text(statement, len(chunk)), chunk)

    def insert_rows(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """`statement` has `VALUES {rows}`; it runs once per chunk of rows, not once per row.

        The rows of one chunk must not share a conflict key (an upsert touches a row once).
        """
        if not rows:
            return
        width = len(rows[0])
        for start in range(0, len(rows), ROWS):
            chunk = rows[start : start + ROWS]
            self._execute(self._text(statement, len(chunk), width), [v for row in chunk for v in row])
