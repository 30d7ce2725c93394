"""Every read of a person's data, by any role, written to the access log (store.access_log).

A read is appended to an in-process buffer and answered at once; a writer thread inserts what
has piled up every FLUSH_SECONDS, or sooner once FLUSH_ROWS are waiting, in one transaction, and
`close()` (the server's shutdown, the end of a command) inserts the rest: a clean shutdown loses
no read. A query inserts this process's waiting rows first, so it sees every read made here.

What a crash can lose: the reads of the last FLUSH_SECONDS (0.1 s) of a process killed outright
(SIGKILL, power, out of memory), or more if the store was refusing inserts at that moment. That
is accepted: the log is there to show who read whom, and a scraper's thousands of reads stay
visible but for the last tenth of a second; in exchange a read costs an append to a list instead
of a transaction (a certificate read is the hottest path: 2,000 requests/s on two cores), and
reads never contend with dose writes for the events table's insert lock. A read is never
answered unlogged for longer than that: once MAX_PENDING rows wait (the store is down or too
slow), further reads are refused (AccessLogUnavailable, 503) until the log catches up.

Reads recorded before the log had its own table are `PersonDataRead` events in the ledger's log
(ledger.access). The first use of the log in a process copies those stored since the last copy
into the table, each row keeping its event's position, so copying again adds nothing.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ledger.access import TOPIC
from store.access_log import AccessLogTable, AccessQuery, AccessRow, access_log_table

log = logging.getLogger("doseledger.access_log")

FLUSH_SECONDS = 0.1
FLUSH_ROWS = 500
MAX_PENDING = 20_000
COPY_PAGE = 1000
PAGE_LIMIT = 1000
# Both stores number rows with signed 64-bit integers; SQLite refuses a larger bound outright.
LAST_POSITION = 2**63 - 1


class AccessLogUnavailable(RuntimeError):
    """The access log cannot take more reads now: they would be served unlogged."""


class AccessLog:
    """The buffered writer and the queries of the access log, one per process's ledger."""

    def __init__(
        self,
        ledger: Any,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        flush_rows: int = FLUSH_ROWS,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.ledger = ledger
        self.flush_seconds = flush_seconds
        self.flush_rows = flush_rows
        self.max_pending = max_pending
        self._table: AccessLogTable | None = None
        self._pending: list[AccessRow] = []
        self._lock = threading.Lock()  # guards _pending, _thread, _closed
        self._flushing = threading.Lock()  # one insert at a time, so rows keep their order
        self._opening = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # --- writing --------------------------------------------------------------------------

    def record(
        self,
        principal_id: str,
        role: str,
        person_ids: Iterable[UUID | str],
        what: str,
        client: str | None = None,
    ) -> int:
        """Log one read of these people (one row each); returns how many rows it made."""
        now = datetime.now(UTC)
        rows = [
            AccessRow(now, str(principal_id), str(role), person, what, client)
            for person in sorted({str(p) for p in person_ids})
        ]
        if not rows:
            return 0
        with self._lock:
            if self._closed:  # a read after the shutdown began: straight to the table
                waiting = None
            else:
                if len(self._pending) + len(rows) > self.max_pending:
                    raise AccessLogUnavailable(
                        f"the access log has {len(self._pending)} reads waiting to be stored; retry shortly"
                    )
                self._pending.extend(rows)
                waiting = len(self._pending)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
                    self._thread.start()
                    atexit.register(self.close)
        if waiting is None:
            self.table().insert(rows)
        elif waiting >= self.flush_rows:
            self._wake.set()
        return len(rows)

    def flush(self) -> None:
        """Insert every row waiting now, in one transaction; on failure they wait on."""
        with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                self.table().insert(batch)
            except BaseException:
                with self._lock:
                    self._pending[:0] = batch
                raise

    def _run(self) -> None:
        pause = self.flush_seconds
        while not self._stop.is_set():
            self._wake.wait(pause)
            self._wake.clear()
            try:
                self.flush()
                pause = self.flush_seconds
            except Exception:  # the store is down: keep the rows, try again a little later
                log.exception("the access log could not store its waiting reads")
                pause = min(max(pause * 2, self.flush_seconds), 5.0)

    def close(self) -> None:
        """Stop the writer and store what waits. Called by the ledger's close."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            atexit.unregister(self.close)
            self._stop.set()
            self._wake.set()
            thread.join()
        self.flush()

    # --- the table and the copy of the reads stored as events ------------------------------

    def table(self) -> AccessLogTable:
        if self._table is None:
            with self._opening:
                if self._table is None:
                    table = access_log_table(self.ledger.recorder.datastore)
                    table.create_table()
                    copy_read_events(self.ledger, table)
                    self._table = table
        return self._table

    # --- reading --------------------------------------------------------------------------

    def find(
        self,
        *,
        person_id: str | None = None,
        principal_id: str | None = None,
        since_position: int = 0,
        limit: int = 100,
        until_position: int | None = None,
    ) -> tuple[list[AccessRow], int | None]:
        """Rows of a person and/or a principal after `since_position` (and up to `until_position`),
        oldest first, and the position to continue from (None: there are no more now)."""
        self.flush()
        query = AccessQuery(person_id, principal_id, since_position, limit + 1, until_position)
        rows = self.table().select(query)
        if len(rows) > limit:
            rows = rows[:limit]
            return rows, rows[-1].position
        return rows, None

    def last_position(self) -> int:
        """The newest row's position, this process's waiting rows stored first."""
        self.flush()
        return self.table().last_position()

    def rows_of(self, person_id: str) -> Iterator[AccessRow]:
        """Every row of one person, oldest first, up to the newest when it began."""
        since, until = 0, self.last_position()
        while True:
            rows, next_since = self.find(
                person_id=person_id, since_position=since, limit=PAGE_LIMIT, until_position=until
            )
            yield from rows
            if next_since is None:
                return
            since = next_since


def copy_read_events(ledger: Any, table: AccessLogTable) -> int:
    """Copy the PersonDataRead events stored since the last copy into the table; returns the
    rows added. Another process copying at the same time adds nothing twice (the unique index)."""
    start = table.copied_through() + 1
    head = ledger.recorder.max_notification_id() or 0
    added = 0
    while start <= head:
        page = ledger.recorder.select_notifications(start=start, limit=COPY_PAGE, stop=head, topics=[TOPIC])
        rows: list[AccessRow] = []
        for notification in page:
            read = ledger.mapper.to_domain_event(notification)
            rows.extend(
                AccessRow(
                    read.timestamp, read.principal_id, read.role, person, read.what, None, notification.id
                )
                for person in read.person_ids
            )
        table.insert(rows)
        added += len(rows)
        if len(page) < COPY_PAGE:
            break
        start = page[-1].id + 1
    if head:
        table.mark_copied(head)
    return added


def as_json(row: AccessRow) -> dict[str, Any]:
    return {
        "position": row.position,
        "read_at": row.read_at.isoformat(),
        "principal_id": row.principal_id,
        "role": row.role,
        "person_id": row.person_id,
        "what": row.what,
        "client": row.client,
    }


def access_report(access_log: AccessLog, person_id: str) -> dict[str, Any]:
    """A person's own report: who (role and principal) read their record, when and what.

    Rows are per person, so a read that found several people (a look-up by phone) shows here
    only as this person's row: the report names no one else.
    """
    reads = [
        {"read_at": r.read_at.isoformat(), "role": r.role, "principal_id": r.principal_id, "what": r.what}
        for r in access_log.rows_of(person_id)
    ]
    readers: dict[tuple[str, str], dict[str, Any]] = {}
    for read in reads:
        key = (read["principal_id"], read["role"])
        if key not in readers:
            readers[key] = {"principal_id": key[0], "role": key[1], "reads": 0, "first": read["read_at"]}
        readers[key]["reads"] += 1
        readers[key]["last"] = read["read_at"]
    return {"person_id": person_id, "reads": reads, "readers": list(readers.values())}
