"""Each person's data key: 32 random bytes that seal the person's personal fields in the events.

Destroying the key is the erasure (crypto-shredding): the events stay, their personal fields
can no longer be opened. The keys live in the ledger's own database, beside the events, in
`person_data_keys (person_id, wrapped, created_at)`, each wrapped (AES-GCM) with the
key-encryption key `data` of the secrets folder (store.secrets): a dump of the database alone
opens nothing. An erased person's id is kept in `person_data_erasures (person_id, erased_at)`,
so that a key missing for an erased person reads as erased, and for anyone else is an error.

This is the one place of the store where rows are deleted: the key table is not the event
store, and deleting a key is its whole point.

Backups: a backup of the database holds the keys of the people erased after it was taken.
Backups are kept for at most `BACKUP_DAYS` days, so an erasure is complete when the oldest
backup taken before it expires. A restored backup must have the erasures re-applied before it
serves: `reapply(erased ids)` (done by `doseledger reconcile`, from the ledger's Erased events)
destroys every key of a person the ledger says is erased.

A new person's key is made in memory and stored by the recorder in the same transaction as the
person's first events (`stage_new`, `insert_staged`): a key commits with what it seals, or
neither does, at no extra commit. Other keys are read (`prepare`: many at once) as needed.

Unwrapped keys are cached in memory, at most `CACHE_SIZE` of them and for `CACHE_SECONDS`
each: once `destroy` returns, no process opens the person's fields for more than about a second
(the destroying process itself at once).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.postgres import PostgresDatastore

from store.secrets import Secrets

KEY_TABLE = "person_data_keys"
ERASURE_TABLE = "person_data_erasures"
KEK_NAME = "data"  # the key-encryption key's name in the secrets folder
BACKUP_DAYS = 35
CACHE_SIZE = 10_000
CACHE_SECONDS = 1.0
_NONCE = 12
DATA_KEY_BYTES = 32  # AES-256
_CHUNK = 500  # people a query reads at most
_WRAP_CONTEXT = b"doseledger data key\x00"

SQLITE_TABLES = (
    f"CREATE TABLE IF NOT EXISTS {KEY_TABLE} (person_id TEXT PRIMARY KEY, wrapped BLOB NOT NULL, "
    "created_at TEXT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {ERASURE_TABLE} (person_id TEXT PRIMARY KEY, erased_at TEXT NOT NULL)",
)


def postgres_tables(schema: str) -> tuple[str, ...]:
    return (
        f'CREATE TABLE IF NOT EXISTS "{schema}".{KEY_TABLE} (person_id uuid PRIMARY KEY, '
        "wrapped bytea NOT NULL, created_at timestamptz NOT NULL)",
        f'CREATE TABLE IF NOT EXISTS "{schema}".{ERASURE_TABLE} (person_id uuid PRIMARY KEY, '
        "erased_at timestamptz NOT NULL)",
    )


class DataKeyMissing(RuntimeError):
    """A person who is not erased has no data key: their sealed fields cannot be opened."""

    def __init__(self, person_id: UUID):
        super().__init__(
            f"the data key of person {person_id} is missing, and the person is not erased: "
            "restore the key table from a backup (then re-apply erasures: doseledger reconcile)"
        )
        self.person_id = person_id


class DataKeys:
    """The data keys of one database (SQLite or PostgreSQL, the event store's own datastore)."""

    def __init__(self, datastore: Any, secrets: Secrets) -> None:
        self.datastore = datastore
        self.secrets = secrets
        postgres = isinstance(datastore, PostgresDatastore)
        keys, erasures = (
            (f'"{datastore.schema}".{KEY_TABLE}', f'"{datastore.schema}".{ERASURE_TABLE}')
            if postgres
            else (KEY_TABLE, ERASURE_TABLE)
        )
        self._erasures = erasures
        p = "%s" if postgres else "?"
        self._postgres = postgres
        # Never a key for an erased person: a writer that loaded the person before the
        # erasure would give them a key that opens nothing (and makes their fields unreadable).
        self._insert = (
            f"INSERT INTO {keys} (person_id, wrapped, created_at) SELECT {p}, {p}, {p} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {erasures} WHERE person_id = {p}) "
            "ON CONFLICT (person_id) DO NOTHING"
        )
        self._select = f"SELECT wrapped FROM {keys} WHERE person_id = {p}"
        self._select_any = f"SELECT person_id, wrapped FROM {keys} WHERE person_id = ANY(%s)"
        self._insert_new = f"INSERT INTO {keys} (person_id, wrapped, created_at) VALUES (?, ?, ?)"
        self._insert_new_many = (
            f"INSERT INTO {keys} (person_id, wrapped, created_at) "
            "SELECT n.person_id, n.wrapped, %s FROM unnest(%s::uuid[], %s::bytea[]) AS n(person_id, wrapped)"
        )
        # PostgreSQL: make the missing keys and read them all in one statement. The outer SELECT
        # sees the table as it was (the keys there before); RETURNING gives the ones made now.
        self._make_many = (
            f"WITH made AS (INSERT INTO {keys} (person_id, wrapped, created_at) "
            "SELECT n.person_id, n.wrapped, %s FROM unnest(%s::uuid[], %s::bytea[]) AS n(person_id, wrapped) "
            f"WHERE NOT EXISTS (SELECT 1 FROM {erasures} e WHERE e.person_id = n.person_id) "
            "ON CONFLICT (person_id) DO NOTHING RETURNING person_id, wrapped) "
            f"SELECT person_id, wrapped FROM made UNION ALL "
            f"SELECT person_id, wrapped FROM {keys} WHERE person_id = ANY(%s)"
        )
        self._select_in = f"SELECT person_id, wrapped FROM {keys} WHERE person_id IN ({{marks}})"
        self._is_erased = f"SELECT 1 AS erased FROM {erasures} WHERE person_id = {p}"
        self._delete = f"DELETE FROM {keys} WHERE person_id = {p} RETURNING person_id"
        self._tombstone = f"INSERT INTO {erasures} (person_id, erased_at) VALUES ({p}, {p}) ON CONFLICT (person_id) DO NOTHING"
        self._any = f"SELECT 1 AS any FROM {keys} LIMIT 1"
        self._aead: AESGCM | None = None
        self._cache: OrderedDict[UUID, tuple[bytes, float]] = OrderedDict()
        self._erased: OrderedDict[UUID, None] = OrderedDict()  # erasure is for good: no expiry
        self._lock = threading.Lock()
        self._staged = threading.local()  # keys of the save this thread is making (stage_new)

    # --- reading and making keys ------------------------------------------------------------

    def key(self, person_id: UUID, *, create: bool = False) -> bytes | None:
        """The person's data key; None if the person is erased; made now if there is none and
        `create` (a new person's first event). DataKeyMissing otherwise."""
        staged: dict[UUID, bytes] = getattr(self._staged, "keys", {})
        if person_id in staged:  # made for the save this thread is making: no expiry
            return staged[person_id]
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(person_id)
            if cached is not None and cached[1] > now:
                self._cache.move_to_end(person_id)
                return cached[0]
            if person_id in self._erased:
                return None
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select, (self._id(person_id),))
            row = curs.fetchone()
        if row is None and create:
            # What AESGCM.generate_key(256) gives, drawn from os.urandom (which cryptography's
            # Rust generate_key does not call: the stored-state test repeats the draws).
            wrapped = self._wrap(person_id, os.urandom(DATA_KEY_BYTES))
            with self.datastore.transaction(commit=True) as curs:
                # Of two writers making the same person's key at once, the first row wins and
                # both read it back.
                curs.execute(self._insert, (self._id(person_id), wrapped, self._now(), self._id(person_id)))
                curs.execute(self._select, (self._id(person_id),))
                row = curs.fetchone()
        erased = False
        if row is None:
            with self.datastore.transaction(commit=False) as curs:
                curs.execute(self._is_erased, (self._id(person_id),))
                erased = curs.fetchone() is not None
        if row is None:
            if not erased:
                raise DataKeyMissing(person_id)
            with self._lock:
                self._remember(self._erased, person_id, None)
            return None
        key = self._unwrap(person_id, bytes(row["wrapped"]))
        with self._lock:
            self._remember(self._cache, person_id, (key, now + CACHE_SECONDS))
        return key

    def prepare(self, person_ids: Iterable[UUID], *, create: bool = False) -> None:
        """Read (and, with `create`, make) the keys of many people in a few round trips, into
        the cache: a batch's people, a page of a rebuild. A key missing here is left for `key`
        to tell erased from lost."""
        now = time.monotonic()
        with self._lock:
            wanted = [
                pid
                for pid in dict.fromkeys(person_ids)
                if pid not in self._erased and not (pid in self._cache and self._cache[pid][1] > now)
            ]
        if not wanted:
            return
        if not create:
            with self.datastore.transaction(commit=False) as curs:
                found = self._select_many(wanted, curs)
        else:
            # One round trip where the store allows it (a new person's first save waits for
            # it): a key drawn for everyone wanted, stored for those who have none.
            made = [(pid, self._wrap(pid, os.urandom(DATA_KEY_BYTES))) for pid in wanted]
            with self.datastore.transaction(commit=True) as curs:
                if self._postgres:
                    curs.execute(
                        self._make_many,
                        (
                            self._now(),
                            [pid for pid, _ in made],
                            [w for _, w in made],
                            [pid for pid, _ in made],
                        ),
                    )
                    found = {row["person_id"]: bytes(row["wrapped"]) for row in curs.fetchall()}
                else:
                    rows = [(self._id(pid), wrapped, self._now(), self._id(pid)) for pid, wrapped in made]
                    curs.executemany(self._insert, rows)  # of two writers at once, the first row wins
                    found = self._select_many(wanted, curs)
        keys = {pid: self._unwrap(pid, wrapped) for pid, wrapped in found.items()}
        with self._lock:
            for pid, key in keys.items():
                self._remember(self._cache, pid, (key, now + CACHE_SECONDS))

    # --- new people's keys, stored in the same transaction as their first events ------------

    def stage_new(self, person_ids: Iterable[UUID]) -> None:
        """Keys for people registered by the save about to run (this thread's): made here,
        seen by this thread only, and stored by the recorder in the save's own transaction
        (`insert_staged`), so a key commits with the events sealed by it, or neither does. No
        person has a key before their first event: one already stored (the same id registered by
        another writer at once) fails the save like its events' version does, and the decision
        is retried. Only a committed key enters the shared cache (`unstage`): two requests
        registering the same person at once (a client's retry) each stage a key, and the loser's
        must never open the winner's events, in its thread or any other."""
        staged: list[tuple[UUID, bytes]] = []
        keys: dict[UUID, bytes] = {}
        for pid in dict.fromkeys(person_ids):
            keys[pid] = os.urandom(DATA_KEY_BYTES)
            staged.append((pid, self._wrap(pid, keys[pid])))
        self._staged.rows, self._staged.keys = staged, keys

    def insert_staged(self, curs: Any) -> None:
        """Store the keys staged by this thread, with the recorder's cursor (its transaction)."""
        staged: list[tuple[UUID, bytes]] = getattr(self._staged, "rows", [])
        if not staged:
            return
        if self._postgres:
            # Never prepared: it runs last in the recorder's pipeline (store.postgres).
            curs.execute(
                self._insert_new_many,
                (self._now(), [pid for pid, _ in staged], [w for _, w in staged]),
                prepare=False,
            )
        else:
            curs.executemany(self._insert_new, [(pid.hex, wrapped, self._now()) for pid, wrapped in staged])

    def unstage(self, *, failed: bool) -> None:
        """After the save: the staged keys, committed with it, join the shared cache; if it
        failed they are dropped, and any cached key of those people too (another writer's key
        is the one stored for them)."""
        keys: dict[UUID, bytes] = getattr(self._staged, "keys", {})
        self._staged.rows, self._staged.keys = [], {}
        now = time.monotonic()
        with self._lock:
            for pid, key in keys.items():
                if failed:
                    self._cache.pop(pid, None)
                else:
                    self._remember(self._cache, pid, (key, now + CACHE_SECONDS))

    def _select_many(self, person_ids: list[UUID], curs: Any) -> dict[UUID, bytes]:
        """The keys found, read with the caller's cursor: in its transaction (a transaction of
        its own here made two, and two pool checkouts, for every batch's keys)."""
        found: dict[UUID, bytes] = {}
        for first in range(0, len(person_ids), _CHUNK):
            chunk = person_ids[first : first + _CHUNK]
            if self._postgres:
                curs.execute(self._select_any, (chunk,), binary=True)  # the keys as bytes, not hex
            else:
                curs.execute(self._select_in.format(marks=",".join("?" * len(chunk))), [p.hex for p in chunk])
            for row in curs.fetchall():
                pid = row["person_id"]
                found[pid if isinstance(pid, UUID) else UUID(pid)] = bytes(row["wrapped"])
        return found

    # --- erasing ------------------------------------------------------------------------------

    def destroy(self, person_id: UUID) -> bool:
        """Delete the person's key and remember the person as erased, in one transaction;
        whether a key was there to delete. Idempotent."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._tombstone, (self._id(person_id), self._now()))
            curs.execute(self._delete, (self._id(person_id),))
            deleted = curs.fetchone() is not None
        with self._lock:
            self._cache.pop(person_id, None)
            self._remember(self._erased, person_id, None)
        return deleted

    def holds(self, person_id: UUID) -> bool:
        """Whether a key of this person is stored (uncached)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select, (self._id(person_id),))
            return curs.fetchone() is not None

    def reapply(self, erased: Iterable[UUID]) -> list[UUID]:
        """Destroy the keys still held of these erased people (a restored backup, or an
        erasure interrupted between its event and its key's destruction), and remember them
        all as erased; those whose key was destroyed now."""
        erased = list(dict.fromkeys(erased))
        if not erased:
            return []
        with self.datastore.transaction(commit=True) as curs:
            # A restored erasure table may lack them: without, a missing key would read as lost.
            curs.executemany(self._tombstone, [(self._id(pid), self._now()) for pid in erased])
            held = self._select_many(erased, curs)  # one query per 500: most hold none
        return [pid for pid in erased if pid in held and self.destroy(pid)]

    # --- wrapping -----------------------------------------------------------------------------

    def _kek(self) -> AESGCM:
        if self._aead is None:
            # A new key-encryption key only for a store that holds no wrapped key yet: anywhere
            # else a missing one is MissingSecret (a new one would open nothing).
            create = False
            if not self.secrets.exists(KEK_NAME):
                with self.datastore.transaction(commit=False) as curs:
                    curs.execute(self._any)
                    create = curs.fetchone() is None
            self._aead = AESGCM(self.secrets.key(KEK_NAME, create=create))
        return self._aead

    def _wrap(self, person_id: UUID, key: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._kek().encrypt(nonce, key, _WRAP_CONTEXT + person_id.bytes)

    def _unwrap(self, person_id: UUID, wrapped: bytes) -> bytes:
        return self._kek().decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _WRAP_CONTEXT + person_id.bytes)

    def _id(self, person_id: UUID) -> Any:
        return person_id if self._postgres else person_id.hex

    def _now(self) -> Any:
        return datetime.now(UTC) if self._postgres else datetime.now(UTC).isoformat()

    @staticmethod
    def _remember(cache: OrderedDict[UUID, Any], person_id: UUID, value: Any) -> None:
        cache[person_id] = value
        cache.move_to_end(person_id)
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
