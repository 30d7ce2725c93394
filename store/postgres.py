"""The ledger's event store on PostgreSQL (store.event_store): the library's recorder, with
its insert from binary arrays, plus the reads the library has no query for, and LISTEN/NOTIFY.

A batch of doses touches many people; loading them one `repository.get` at a time costs a
round trip each. `select_streams` fetches every event of the given ids at once.

The parameters of both the insert and `select_streams` go as arrays of plain types in binary,
and `select_streams`'s rows come back in binary.
The library sends the events as one array of a composite type, which psycopg writes as text
in Python, escaping every field with a regular expression: about a quarter of a 1,000-dose
batch's time went there.

`count_notifications` says how many events a read side covers when it reads only the topics
it needs (a rebuild). `scan_streams` reads the events of some topics stream after stream, for
a read side whose every row is a fold of one stream (the certificates' rebuild) and for an
audit of the whole store.

`OneSchemaCreatorAtATime` serialises the creation of a PostgreSQL schema's tables, and leaves
out of a start's creation what is made already (its IF NOT EXISTS would lock the tables).

`LedgerPostgresFactory` is the library's factory, with libpq's `target_session_attrs` from the
store URL (store.url): a URL naming several hosts connects to the one that takes writes.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore, PostgresFactory
from eventsourcing.utils import Environment, EnvType
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from store import library
from store.data_keys import DataKeys, postgres_tables
from store.event_store import EventStore, StoredRecord
from store.person_keys import IDENTITY_TABLE, PersonKeys
from store.person_keys import postgres_tables as national_id_tables
from store.site_records import SiteRecordKeys
from store.site_records import postgres_tables as key_tables


def connection_of_its_own(datastore: PostgresDatastore) -> psycopg.Connection[Any]:
    """A connection to the datastore's database outside its pool, in autocommit: for a session
    lock that must last as long as something runs, without holding a pooled connection."""
    pool = datastore.pool
    kwargs = pool.kwargs() if callable(pool.kwargs) else pool.kwargs or {}
    conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
    options = {k: v for k, v in kwargs.items() if k != "row_factory"}
    return psycopg.connect(conninfo, autocommit=True, **options)


@contextmanager
def schema_creation_lock(datastore: PostgresDatastore) -> Iterator[None]:
    """Held while one process creates a schema's tables; another waits, then finds them made.

    Two processes starting on a new schema at once (a server and its worker, a test and the
    command it starts) otherwise race in PostgreSQL's catalogue: "tuple concurrently updated"
    on the library's CREATE OR REPLACE FUNCTION, a duplicate type or migration row. The lock
    is taken on a connection of its own so that the pool keeps every connection for the
    statements themselves (a pool of one would otherwise wait on itself).
    """
    with connection_of_its_own(datastore) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"doseledger:schema:{datastore.schema}",))
        yield  # closing the connection releases the lock, also when creation failed


@contextmanager
def one_key_copier(datastore: PostgresDatastore) -> Iterator[None]:
    """Held while one process copies an older store's keys (usecases.site_record_keys): the
    others wait, then find the position moved and read nothing but what came since."""
    with connection_of_its_own(datastore) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"doseledger:key-copy:{datastore.schema}",))
        yield  # closing the connection releases the lock


class LedgerPostgresFactory(PostgresFactory):
    """The library's factory; its datastore's connections ask for `POSTGRES_TARGET_SESSION_ATTRS`
    (store.url: the URL's `target_session_attrs`), when it is set."""

    POSTGRES_TARGET_SESSION_ATTRS = "POSTGRES_TARGET_SESSION_ATTRS"

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        attrs = self.env.get(self.POSTGRES_TARGET_SESSION_ATTRS)
        if attrs:
            timeout = float(self.env.get(self.POSTGRES_CONNECT_TIMEOUT) or 5)
            library.connect_as(self.datastore, attrs, timeout)


# Creation statements that do nothing once their object is made, yet lock its table even then
# (an index: SHARE; a column: ACCESS EXCLUSIVE). Their quote and name; a column's table's first.
_INDEX = re.compile(r'CREATE (?:UNIQUE )?INDEX IF NOT EXISTS ("?)([^"\s]+)\1 ON ')
_COLUMN = re.compile(
    r'ALTER TABLE (?:"?[^"\s.]+"?\.)?("?)([^"\s]+)\1 ADD COLUMN IF NOT EXISTS ("?)([^"\s]+)\3'
)


class OneSchemaCreatorAtATime:
    datastore: PostgresDatastore
    sql_create_statements: list[Composed]

    def create_table(self) -> None:
        with schema_creation_lock(self.datastore):
            super().create_table()  # type: ignore[misc]  # a mixin: the recorder it is mixed into has create_table

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        """The library's creation, without the statements whose index or column is there.

        Every start runs the creation, and `IF NOT EXISTS` locks the table before it looks: a
        start's transaction held a SHARE lock on each table it indexed until it committed (and
        ACCESS EXCLUSIVE on key_migrations, for its column). A view's writer, already running
        (the embedded projector beside the API's start), wrote those tables in another order:
        PostgreSQL found a deadlock and failed the start. A start also waited for every save
        in flight (its EXCLUSIVE lock on the events), and saves after it for the start. Under
        the creation lock nobody else creates meanwhile: what is there now is there at commit."""
        statements = self.sql_create_statements
        self.sql_create_statements = [
            s for s in statements if not already_made(curs, self.datastore.schema, s)
        ]
        try:
            super()._create_table(curs)  # type: ignore[misc]  # a mixin, as above
        finally:
            self.sql_create_statements = statements


def already_made(curs: Cursor[DictRow], schema: str, statement: Any) -> bool:
    """Is `statement` an index's or a column's `IF NOT EXISTS` whose object exists in `schema`?"""
    text = statement.as_string()
    if index := _INDEX.match(text):
        curs.execute(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            (schema, _folded(index.group(1), index.group(2))),
        )
        return curs.fetchone() is not None
    if column := _COLUMN.match(text):
        curs.execute(
            "SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND a.attname = %s "
            "AND NOT a.attisdropped",
            (schema, _folded(column.group(1), column.group(2)), _folded(column.group(3), column.group(4))),
        )
        return curs.fetchone() is not None
    return False


def _folded(quote: str, name: str) -> str:
    """An identifier as PostgreSQL keeps it: unquoted ones in lower case."""
    return name if quote else name.lower()


class PostgresLedgerRecorder(OneSchemaCreatorAtATime, library.PostgresInsertStep, EventStore):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        # The people's data keys (store.data_keys) are created with the events.
        self.sql_create_statements.extend(SQL(s).format() for s in postgres_tables(self.datastore.schema))
        # So are the site-record keys (store.site_records), inserted with the doses they guard.
        self.sql_create_statements.extend(SQL(s).format() for s in key_tables(self.datastore.schema))
        self.site_records = SiteRecordKeys(self.datastore)
        # And the people's keys (store.person_keys), inserted with the people they name.
        self.sql_create_statements.extend(SQL(s).format() for s in national_id_tables(self.datastore.schema))
        self.national_ids = PersonKeys(self.datastore)
        self.identities = PersonKeys(self.datastore, IDENTITY_TABLE)
        table = SQL("{schema}.{table}").format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name)
        )
        records = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {table} "
        ).format(table=table)
        self.select_streams_statement = records + SQL(
            "WHERE originator_id = ANY(%b) ORDER BY originator_id, originator_version"
        )
        # The library's insert (same columns, same RETURNING, in the same transaction after its
        # table lock and NOTIFY), from four arrays instead of one array of its composite type.
        self.insert_rows_statement = SQL(
            "INSERT INTO {table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(table=table, id_type=SQL(self.datastore.originator_id_type))
        self.count_notifications_statement = SQL(
            "SELECT COUNT(*) AS n FROM {table} WHERE notification_id <= %s"
        ).format(table=table)
        self.scan_streams_statement = records + SQL(
            "WHERE topic = ANY(%s) AND notification_id <= %s ORDER BY originator_id, originator_version"
        )
        # One statement, so one snapshot (the library's table lock makes positions commit in
        # order: every position up to the highest seen is there).
        self.stream_heads_statement = SQL(
            "WITH top AS (SELECT MAX(notification_id) AS position FROM {table}) "
            "SELECT top.position, e.notification_id, e.originator_id, e.originator_version, "
            "e.topic, e.state FROM top, {table} e JOIN (SELECT originator_id, "
            "MAX(originator_version) AS version FROM {table} WHERE notification_id <= "
            "(SELECT position FROM top) GROUP BY originator_id) h ON e.originator_id = "
            "h.originator_id AND e.originator_version = h.version ORDER BY e.originator_id"
        ).format(table=table)
        self.scan_all_streams_statement = records + SQL(
            "WHERE notification_id <= %s ORDER BY originator_id, originator_version"
        )

    # The library tries an insert 10 times, each attempt waiting up to the pool's timeout (5 s)
    # for a connection: while PostgreSQL was down a write in flight hung for up to ~50 s, and
    # every single dose queued behind it. One more attempt after a pause (a pooled connection
    # that died is replaced), then the caller hears 503 and sends again: the dose's key makes
    # the resend a duplicate if the first attempt did commit.
    insert_events = library.insert_events_retrying(max_attempts=2, wait=0.2)

    data_keys: DataKeys | None = None  # set by the application: new people's keys go in with their events

    def insert_rows(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]) -> None:
        try:
            self._insert_rows(curs, stored_events)
        except psycopg.Error:
            # In the pipeline the events' unique violation arrives with whichever statement
            # reads next; raised from a key's insert, before any sync, the library's commit
            # then met the aborted pipeline and "pipeline aborted" (an OperationalError) hid
            # the conflict. A sync ends the aborted part: the conflict is raised as itself.
            with contextlib.suppress(psycopg.Error), curs.connection.pipeline() as pipeline:
                pipeline.sync()
            raise

    def _insert_rows(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]) -> None:
        curs.execute(
            self.insert_rows_statement,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )
        # Same transaction: a key commits with its events. After them, and never prepared: in
        # the pipeline a failed statement skips the ones queued behind it, a PREPARE included,
        # which psycopg then believes made ("prepared statement does not exist" on every later
        # save of that connection). A new person's events conflict before their key could.
        # A cursor of its own: this one's results are the new rows' positions, read next.
        if self.data_keys is not None:
            with curs.connection.cursor() as keys:
                self.data_keys.insert_staged(keys)
        with curs.connection.cursor() as claims:  # a second claimant of a site's record fails here
            self.site_records.insert_staged(claims)
        with curs.connection.cursor() as people:  # and a second claimant of a person's key
            self.national_ids.insert_staged(people)
            self.identities.insert_staged(people)

    def select_streams(self, ids: Sequence[UUID]) -> list[StoredRecord]:
        if not ids:
            return []
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            # Rows in binary too: a state arrives as its bytes, not hex text to unescape
            # (libpq's unescape was 2.5 % of a single dose's instructions in the writer).
            curs.execute(self.select_streams_statement, (list(ids),), prepare=True, binary=True)
            return [
                StoredRecord(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                    position=row["notification_id"],
                )
                for row in curs.fetchall()
            ]

    def scan_streams(
        self, topics: Sequence[str] | None = None, up_to: int | None = None, chunk: int = 2000
    ) -> Iterator[StoredRecord]:
        """Read by a server-side cursor `chunk` rows at a time (see EventStore.scan_streams).

        One query, on a connection of its own (not the pool's, which the rebuild's writes
        need). Its plan walks the primary key: a cursor is planned for its first rows. Keyset
        pages (`> last key ... LIMIT`) were planned as a bitmap scan and a sort of every
        remaining row, 0.2-7 s a page. The scan's transaction holds back vacuum while it lasts.
        """
        if topics is not None and not topics:
            return
        if up_to is None:
            up_to = self.max_notification_id() or 0
        statement: Composed = (
            self.scan_all_streams_statement if topics is None else self.scan_streams_statement
        )
        params: tuple[Any, ...] = (up_to,) if topics is None else (list(topics), up_to)
        with (
            connection_of_its_own(self.datastore) as conn,
            conn.transaction(),
            conn.cursor(name="scan_streams") as curs,
        ):
            curs.itersize = chunk
            curs.execute(statement, params)
            for position, originator_id, version, topic, state in curs:
                yield StoredRecord(
                    originator_id=originator_id,
                    originator_version=version,
                    topic=topic,
                    state=bytes(state),
                    position=position,
                )

    def count_notifications(self, stop: int | None = None) -> int:
        if stop is None:
            stop = self.max_notification_id() or 0
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.count_notifications_statement, (stop,))
            row = curs.fetchone()
            return int(row["n"]) if row is not None else 0

    def stream_heads(self) -> tuple[int, list[StoredRecord]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.stream_heads_statement)
            rows = curs.fetchall()
        if not rows:
            return 0, []
        return int(rows[0]["position"]), [
            StoredRecord(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
                position=row["notification_id"],
            )
            for row in rows
        ]

    def copy_old_keys(self, copy: Callable[[], int]) -> int:
        """Under an advisory lock (one_key_copier): N workers starting at once scan the store
        once, not N times."""
        with one_key_copier(self.datastore):
            return copy()

    def follow(self, gt: int | None) -> library.ListeningSubscription:
        return library.ListeningSubscription(self, gt=gt)
