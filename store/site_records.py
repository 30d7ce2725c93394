"""The site-record keys: a table beside the events, `site_record_keys`, one row per dose.

(site_id, site_record_id) → dose id, whom the site named, and the digest of what it reported
(`SiteRecordKey`). The dose id is the primary key and (site_id, site_record_id) a
unique index (the dose id is derived from them, so each refuses what the other does).

A decision's new rows are staged for its thread (`staged`) and inserted by the recorder in the
save's own transaction, after the events (store.sqlite, store.postgres): a second claimant of a
site's record fails the whole save with the store's IntegrityError, exactly as the version of a
key aggregate's stream did, and is decided again on fresh reads (usecases.decision).

Rows are only ever inserted (save once: a start keys the plain digests the table's first version
kept, `key_plain_digests`): a row names whom the site named, which no merge or unmerge changes
(the person's own events say where a merge led the dose). The table is not the event store, and
the events stay the truth of a dose; the table is the index that makes its key unique.

Stores written before the table kept each key as a `SiteRecord` aggregate (ledger.keys): its
`Claimed` events are copied into the table, in chunks, at every start, those after the position
the last copy reached (kept in `key_migrations`): a process of the earlier version still running
writes its keys as events only (usecases.site_record_keys reads the events; `copy` inserts with
ON CONFLICT DO NOTHING, so copying again inserts nothing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from store import key_migrations

TABLE = "site_record_keys"
MIGRATION = "site-records"  # its copy's name in key_migrations
_CHUNK = 500  # dose ids a read asks for at most
_COLUMNS = "dose_id, person_id, site_id, site_record_id, content_digest"

SQLITE_TABLES = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (dose_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, "
    "site_id TEXT NOT NULL, site_record_id TEXT NOT NULL, content_digest TEXT NOT NULL, "
    "UNIQUE (site_id, site_record_id))",
    *key_migrations.SQLITE_TABLES,
)


def postgres_tables(schema: str) -> tuple[str, ...]:
    return (
        f'CREATE TABLE IF NOT EXISTS "{schema}".{TABLE} (dose_id uuid PRIMARY KEY, '
        "person_id uuid NOT NULL, site_id text NOT NULL, site_record_id text NOT NULL, "
        "content_digest text NOT NULL, UNIQUE (site_id, site_record_id))",
        *key_migrations.postgres_tables(schema),
    )


@dataclass(frozen=True, slots=True)
class SiteRecordKey:
    """(site_id, site_record_id) → the one dose it reported (its id is derived from them:
    ledger.keys.dose_id_for), whom the site named, and the digest of what it reported.

    `person_id` is whom the site named: a merge leads the dose to the survivor (followed through
    the person's `merged_into`), an unmerge gives it back, so the row never changes."""

    dose_id: UUID
    person_id: UUID
    site_id: str
    site_record_id: str
    content_digest: str


class SiteRecordKeys:
    """The site-record keys of one database (the event store's own datastore)."""

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        self._postgres = isinstance(datastore, PostgresDatastore)
        if self._postgres:
            table = f'"{datastore.schema}".{TABLE}'
            rows = "SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::text[], %s::text[], %s::text[])"
            self._select = f"SELECT {_COLUMNS} FROM {table} WHERE dose_id = ANY(%s)"
        else:
            table = TABLE
            rows = "VALUES (?, ?, ?, ?, ?)"
            self._select = f"SELECT {_COLUMNS} FROM {table} WHERE dose_id IN ({{marks}})"
        self.migrations = key_migrations.KeyMigrations(datastore)
        self._insert = f"INSERT INTO {table} ({_COLUMNS}) {rows}"
        p = "%s" if self._postgres else "?"
        self._page = f"SELECT {_COLUMNS} FROM {table} WHERE dose_id > {p} ORDER BY dose_id LIMIT {p}"
        self._lowest: Any = UUID(int=0) if self._postgres else ""
        self._copy = f"{self._insert} ON CONFLICT DO NOTHING"
        self._staged = threading.local()  # the rows of the save this thread is making

    # --- writing, in the save's transaction -----------------------------------------------------

    @contextmanager
    def staged(self, keys: Sequence[SiteRecordKey]) -> Iterator[None]:
        """Rows for the save this thread makes inside the block, inserted by the recorder in
        its transaction (`insert_staged`); dropped when the block ends, saved or not."""
        self._staged.keys = keys
        try:
            yield
        finally:
            self._staged.keys = ()

    def insert_staged(self, curs: Any) -> None:
        """Insert the rows staged by this thread with the recorder's cursor (its transaction).
        A row already there (another claimant's) is a unique violation: the save fails whole."""
        keys: Sequence[SiteRecordKey] = getattr(self._staged, "keys", ())
        if not keys:
            return
        if not self._postgres:
            self._write(curs, self._insert, keys)
            return
        # The recorder's pipeline: synced here, as the library syncs after the events, so that
        # a unique violation is raised as itself (IntegrityError) and the pipeline recovers;
        # left to the commit it surfaces as "pipeline aborted", an OperationalError.
        with curs.connection.pipeline() as pipeline:
            self._write(curs, self._insert, keys)
            pipeline.sync()

    def _write(self, curs: Any, statement: str, keys: Sequence[SiteRecordKey]) -> None:
        if self._postgres:
            # Never prepared: it may fail in the recorder's pipeline (see store.postgres).
            curs.execute(
                statement,
                (
                    [k.dose_id for k in keys],
                    [k.person_id for k in keys],
                    [k.site_id for k in keys],
                    [k.site_record_id for k in keys],
                    [k.content_digest for k in keys],
                ),
                prepare=False,
            )
        else:
            curs.executemany(
                statement,
                [
                    (k.dose_id.hex, k.person_id.hex, k.site_id, k.site_record_id, k.content_digest)
                    for k in keys
                ],
            )

    # --- reading ----------------------------------------------------------------------------

    def find(self, dose_ids: Iterable[UUID]) -> dict[UUID, SiteRecordKey]:
        """The rows of these doses (those that have one), a query per 500."""
        wanted = list(dict.fromkeys(dose_ids))
        found: dict[UUID, SiteRecordKey] = {}
        if not wanted:
            return found
        with self.datastore.transaction(commit=False) as curs:
            for first in range(0, len(wanted), _CHUNK):
                chunk = wanted[first : first + _CHUNK]
                if self._postgres:
                    curs.execute(self._select, (chunk,), prepare=True)
                else:
                    curs.execute(
                        self._select.format(marks=",".join("?" * len(chunk))), [d.hex for d in chunk]
                    )
                for row in curs.fetchall():
                    key = _key(row)
                    found[key.dose_id] = key
        return found

    def every(self, chunk: int = 2000) -> Iterator[SiteRecordKey]:
        """Every row, in dose-id order, `chunk` a query (for an audit, a reconciliation)."""
        after: Any = None
        while True:
            with self.datastore.transaction(commit=False) as curs:
                curs.execute(self._page, (after if after is not None else self._lowest, chunk))
                rows = curs.fetchall()
            for row in rows:
                yield _key(row)
            if len(rows) < chunk:
                return
            after = rows[-1]["dose_id"]

    # --- stores written before the table ------------------------------------------------------

    def key_plain_digests(self, keyed: Callable[[str], str]) -> int:
        """Replace the plain digests that the table's first version kept with `keyed` ones, 2,000
        a transaction; how many. A digest already keyed ("hmac:") or a correction's (no report
        behind it) is left as it is, so this is quick once done, and safe to run again."""
        p = "%s" if self._postgres else "?"
        table = f'"{self.datastore.schema}".{TABLE}' if self._postgres else TABLE
        plain = (
            f"SELECT dose_id, content_digest FROM {table} WHERE content_digest NOT LIKE 'hmac:%%' "
            f"AND content_digest NOT LIKE 'correction:%%' LIMIT 2000"
        )
        if not self._postgres:
            plain = plain.replace("%%", "%")
        update = f"UPDATE {table} SET content_digest = {p} WHERE dose_id = {p} AND content_digest = {p}"
        done = 0
        while True:
            with self.datastore.transaction(commit=True) as curs:
                curs.execute(plain)
                rows = [
                    (keyed(r["content_digest"]), r["dose_id"], r["content_digest"]) for r in curs.fetchall()
                ]
                if rows:
                    curs.executemany(update, rows)
            done += len(rows)
            if len(rows) < 2000:
                return done

    def copied_up_to(self) -> int:
        """The position up to which the old key events are copied (0: none yet)."""
        return self.migrations.copied_up_to(MIGRATION)

    def mark_copied(self, position: int) -> None:
        """The old key events up to `position` are copied (a lower position never replaces it)."""
        self.migrations.mark_copied(MIGRATION, position)

    def copy(self, keys: Sequence[SiteRecordKey]) -> int:
        """Insert rows copied from an older store's claim events, in one transaction; a row
        already there (copied before, or by another process at once) is left as it is. How
        many were new."""
        if not keys:
            return 0
        with self.datastore.transaction(commit=True) as curs:
            self._write(curs, self._copy, keys)
            # Rows inserted (those already there are not counted); the library wraps SQLite's cursor.
            return max(0, int(getattr(curs, "sqlite_cursor", curs).rowcount))


def _key(row: Any) -> SiteRecordKey:
    return SiteRecordKey(
        _uuid(row["dose_id"]),
        _uuid(row["person_id"]),
        row["site_id"],
        row["site_record_id"],
        row["content_digest"],
    )


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)
