"""The keys made from personal data, as tables beside the events, appended to only.

`national_id_keys`: a national id's key (its keyed id, ledger.keys.IdKey.national_id) → the
one person holding it. Each change of holder is a row (key, seq, person_id, reason), as each
event of the `NationalIdClaim` aggregate the table replaces was: a claim is seq 1, a
reassignment (to another person, or to none: released by a correction or an erasure) the next
seq. The holder is the row with the highest seq.

`identity_keys`: the key of a name, birth date and phone (IdKey.identity) → every person
registered with them (twins, a family sharing a phone). Each row lists a person (`joined`) or
takes them off (`left`: their details were corrected), as the `IdentityKey` aggregate's events
did; the people listed are the fold of the rows in seq order.

Nothing is updated or deleted, so the rows are each key's history, as its stream was.
(key, seq) is the primary key: two decisions that both read seq n and append n + 1 (two
registrations of one new national id, twins registered at once) cannot both commit. The rows of
a decision are staged for its thread (`staged`) and inserted by the recorder in the save's own
transaction, after the events (store.sqlite, store.postgres), as the site-record keys are
(store.site_records): the second claimant's whole save fails with the store's IntegrityError,
exactly as the version of the key's stream did, and is decided again.

`reason` is a word of `REASONS`, never the free text of a correction: a row outlives the
person's erasure, and an official's reason may name them. The person's own events keep it.

Stores written before the tables hold the keys as streams: their events are copied in
(usecases.person_key_copy), each event the row of its version, so a copy run twice, or by two
processes at once, inserts nothing twice (ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from store import key_migrations

T = TypeVar("T")
TABLE = "national_id_keys"
IDENTITY_TABLE = "identity_keys"
TABLES = (TABLE, IDENTITY_TABLE)
MIGRATION_OF = {TABLE: "national-ids", IDENTITY_TABLE: "identity-keys"}  # its copy's name in key_migrations
_CHUNK = 500  # keys a read asks for at most
_COLUMNS = "key, seq, person_id, reason"

# Why a row was appended: a closed list, so that no row carries what someone typed.
CLAIMED = "claimed"  # a registration, or a correction giving the person this national id
RECLAIMED = "reclaimed"  # a released national id claimed again
CORRECTED = "corrected"  # released: its person's national id was corrected to another
ERASED = "erased"  # released: its person was erased
REKEYED = "rekeyed"  # made by `doseledger rekey` from the people's streams
COPIED = "copied"  # a reassignment copied from a store written before the table
JOINED = "joined"  # an identity key lists the person
LEFT = "left"  # an identity key no longer lists the person (their details were corrected)
REASONS = (CLAIMED, RECLAIMED, CORRECTED, ERASED, REKEYED, COPIED, JOINED, LEFT)

SQLITE_TABLES = (
    *(
        f"CREATE TABLE IF NOT EXISTS {table} (key TEXT NOT NULL, seq INTEGER NOT NULL, "
        "person_id TEXT, reason TEXT NOT NULL, PRIMARY KEY (key, seq))"
        for table in TABLES
    ),
)  # key_migrations, where the copies' positions are kept, is made with store.site_records' tables


def postgres_tables(schema: str) -> tuple[str, ...]:
    return (
        *(
            f'CREATE TABLE IF NOT EXISTS "{schema}".{table} (key uuid NOT NULL, seq integer NOT NULL, '
            "person_id uuid, reason text NOT NULL, PRIMARY KEY (key, seq))"
            for table in TABLES
        ),
    )


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One row of a key: its `seq`th change. A national id's: its holder from then on (None:
    released). An identity key's: the person it lists (`joined`) or no longer lists (`left`)."""

    key: UUID
    seq: int
    person_id: UUID | None
    reason: str


def listed_after(listed: list[UUID], row: KeyRow) -> list[UUID]:
    """An identity key's people after one more of its rows (in the order they joined)."""
    if row.person_id is None:
        return listed
    if row.reason == LEFT:
        return [p for p in listed if p != row.person_id]
    return listed if row.person_id in listed else [*listed, row.person_id]


class PersonKeys:
    """One key table (`table`: TABLE or IDENTITY_TABLE) of one database (the event store's)."""

    def __init__(self, datastore: Any, table: str = TABLE) -> None:
        self.datastore = datastore
        self.table = table
        self.migration = MIGRATION_OF[table]
        self._postgres = isinstance(datastore, PostgresDatastore)
        if self._postgres:
            table = f'"{datastore.schema}".{self.table}'
            rows = "SELECT * FROM unnest(%s::uuid[], %s::integer[], %s::uuid[], %s::text[])"
            self._select = f"SELECT {_COLUMNS} FROM {table} WHERE key = ANY(%s) ORDER BY key, seq"
        else:
            table = self.table
            rows = "VALUES (?, ?, ?, ?)"
            self._select = f"SELECT {_COLUMNS} FROM {table} WHERE key IN ({{marks}}) ORDER BY key, seq"
        self.migrations = key_migrations.KeyMigrations(datastore)
        self._insert = f"INSERT INTO {table} ({_COLUMNS}) {rows}"
        self._copy = f"{self._insert} ON CONFLICT DO NOTHING"
        p = "%s" if self._postgres else "?"
        self._page = (
            f"SELECT {_COLUMNS} FROM {table} WHERE key > {p} OR (key = {p} AND seq > {p}) "
            f"ORDER BY key, seq LIMIT {p}"
        )
        self._lowest: Any = UUID(int=0) if self._postgres else ""
        self._staged = threading.local()  # the rows of the save this thread is making

    # --- writing, in the save's transaction -----------------------------------------------------

    @contextmanager
    def staged(self, rows: Sequence[KeyRow]) -> Iterator[None]:
        """Rows for the save this thread makes inside the block, inserted by the recorder in
        its transaction (`insert_staged`); dropped when the block ends, saved or not."""
        self._staged.rows = rows
        try:
            yield
        finally:
            self._staged.rows = ()

    def has_staged(self) -> bool:
        """Whether this thread's save has rows to insert (a save of keyed ids: usecases.keyed_ids)."""
        return bool(getattr(self._staged, "rows", ()))

    def insert_staged(self, curs: Any) -> None:
        """Insert this thread's staged rows with the recorder's cursor (its transaction). A
        (key, seq) already there (another claimant's) is a unique violation: the save fails."""
        rows: Sequence[KeyRow] = getattr(self._staged, "rows", ())
        if not rows:
            return
        # On PostgreSQL in the recorder's pipeline, not synced here: the library syncs right
        # after the events (and these rows), where a violation is raised as IntegrityError.
        self._write(curs, self._insert, rows)

    def _write(self, curs: Any, statement: str, rows: Sequence[KeyRow]) -> None:
        if self._postgres:
            curs.execute(  # never prepared: it may fail in the recorder's pipeline
                statement,
                (
                    [r.key for r in rows],
                    [r.seq for r in rows],
                    [r.person_id for r in rows],
                    [r.reason for r in rows],
                ),
                prepare=False,
            )
        else:
            curs.executemany(
                statement,
                [(r.key.hex, r.seq, r.person_id.hex if r.person_id else None, r.reason) for r in rows],
            )

    # --- reading ----------------------------------------------------------------------------

    def latest(self, keys: Iterable[UUID]) -> dict[UUID, KeyRow]:
        """The last row of each of these keys (those that have one), a query per 500: a
        national id's holder."""
        latest: dict[UUID, KeyRow] = {}
        for row in self.history(keys):
            latest[row.key] = row  # in seq order: the last one stays
        return latest

    def history(self, keys: Iterable[UUID]) -> list[KeyRow]:
        """Every row of these keys, key after key, each in seq order."""
        wanted = list(dict.fromkeys(keys))
        found: list[KeyRow] = []
        if not wanted:
            return found
        with self.datastore.transaction(commit=False) as curs:
            for first in range(0, len(wanted), _CHUNK):
                chunk = wanted[first : first + _CHUNK]
                if self._postgres:
                    curs.execute(self._select, (chunk,), prepare=True)
                else:
                    curs.execute(
                        self._select.format(marks=",".join("?" * len(chunk))), [k.hex for k in chunk]
                    )
                found.extend(_row(r) for r in curs.fetchall())
        return found

    def every(self, chunk: int = 2000) -> Iterator[KeyRow]:
        """Every row, key after key, each in seq order, `chunk` a query (for an audit)."""
        key: Any = self._lowest
        seq = 0
        while True:
            with self.datastore.transaction(commit=False) as curs:
                curs.execute(self._page, (key, key, seq, chunk))
                rows = curs.fetchall()
            for row in rows:
                yield _row(row)
            if len(rows) < chunk:
                return
            key, seq = rows[-1]["key"], rows[-1]["seq"]

    # --- stores written before the table ------------------------------------------------------

    def at_start(self, copy: Callable[[], T]) -> T:
        """Run a start's copy: on SQLite again while another process starting at once holds the
        file (store.sqlite.while_locked; the copy is safe to run twice); on PostgreSQL as it
        is, with no lock: two processes copying at once insert each row once."""
        if self._postgres:
            return copy()
        from store.sqlite import while_locked

        return while_locked(copy)

    def copied_up_to(self) -> int:
        """The position up to which the old claim events are copied (0: none yet)."""
        return self.migrations.copied_up_to(self.migration)

    def mark_copied(self, position: int) -> None:
        """The old claim events up to `position` are copied (a lower position never replaces it)."""
        self.migrations.mark_copied(self.migration, position)

    def copy(self, rows: Sequence[KeyRow]) -> int:
        """Insert rows copied from an older store's claim events, in one transaction; a row
        already there (copied before, or by another process at once) is left as it is. How
        many were new."""
        if not rows:
            return 0
        with self.datastore.transaction(commit=True) as curs:
            self._write(curs, self._copy, rows)
            return max(0, int(getattr(curs, "sqlite_cursor", curs).rowcount))


def _row(row: Any) -> KeyRow:
    person = row["person_id"]
    return KeyRow(
        _uuid(row["key"]), int(row["seq"]), None if person is None else _uuid(person), row["reason"]
    )


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)
