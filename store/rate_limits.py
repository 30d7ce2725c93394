"""Rate limits counted in the store, so that every worker and every process counts the same calls.

A fixed window per limit: a row counts the calls of one subject (a token, a client address)
under one limit in the window that started at `window_start` (seconds since the epoch, a
multiple of the window's length). One statement counts a call and answers the count (an
upsert with RETURNING), atomic on both stores: two workers counting one subject at once each
see a different count, so the limit holds however many workers serve it. Rows are counters,
not events: the ledger's log is never touched. Each process deletes the windows before the
current one once per window (by then no call counts in them again).

A subject is kept as a keyed digest (HMAC-SHA256 with the deployment's `rate-limits` key), never
as it came: client addresses are personal data, and an unkeyed digest of an IPv4 address is
undone by trying them all. A lost key only restarts the counts, so it is made on first use.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from store.secrets import Secrets
from store.side_tables import SideTable

TABLE = "rate_limits"
KEY_NAME = "rate-limits"
COLUMNS = (
    "name TEXT NOT NULL, subject TEXT NOT NULL, window_start BIGINT NOT NULL, "
    "calls INTEGER NOT NULL, PRIMARY KEY (name, window_start, subject)"
)


def now() -> float:
    """The time windows are counted in (looked up on each call: tests pin it)."""
    return time.time()


@dataclass(frozen=True)
class Counted:
    """A call counted: how many the subject made in this window, and when the window ends."""

    calls: int
    retry_after: float  # seconds until the next window starts


class RateLimits(SideTable):
    """The counters, in the ledger's own database (its datastore and connection pool)."""

    table = TABLE
    columns = COLUMNS

    def __init__(
        self,
        datastore: Any,
        *,
        secrets: Secrets | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(datastore)
        self.clock = clock or (lambda: now())  # late bound: `now` as it is at each call
        self._key = (secrets or Secrets.from_env()).key(KEY_NAME, create=True)
        self._pruned: dict[tuple[str, int], int] = {}  # (limit, window) → the window pruned before
        self._lock = threading.Lock()
        self._count = self._statement(
            "INSERT INTO {t} (name, subject, window_start, calls) VALUES ({m}, {m}, {m}, 1) "
            "ON CONFLICT (name, window_start, subject) DO UPDATE SET calls = {t}.calls + 1 "
            "RETURNING calls"
        )
        self._calls = self._statement(
            "SELECT calls FROM {t} WHERE name = {m} AND window_start = {m} AND subject = {m}"
        )
        self._prune = self._statement("DELETE FROM {t} WHERE name = {m} AND window_start < {m}")

    def subject_digest(self, subject: str) -> str:
        return hmac.new(self._key, subject.encode(), hashlib.sha256).hexdigest()

    def count(self, name: str, subject: str, window: int) -> Counted:
        """Count one call of `subject` under the limit `name` (windows of `window` seconds)."""
        now = self.clock()
        start = int(now // window) * window
        digest = self.subject_digest(subject)
        with self.datastore.transaction(commit=True) as c:
            if self.postgres:
                # A count lost to a crash costs nothing worth a wait for the disk: without this
                # the commit's WAL flush was most of a call (2.6 ms a call against 0.5 ms, measured).
                c.execute("SET LOCAL synchronous_commit TO OFF")
            c.execute(self._count, (name, digest, start))
            row = c.fetchone()
        calls = int(row["calls"] if self.postgres else row[0])
        self._prune_before(name, window, start)
        return Counted(calls=calls, retry_after=start + window - now)

    def calls(self, name: str, subject: str, window: int) -> int:
        """The calls counted in the current window (0 if none), without counting one."""
        start = int(self.clock() // window) * window
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._calls, (name, start, self.subject_digest(subject)))
            row = c.fetchone()
        if row is None:
            return 0
        return int(row["calls"] if self.postgres else row[0])

    def _prune_before(self, name: str, window: int, start: int) -> None:
        with self._lock:
            if self._pruned.get((name, window), -1) >= start:
                return
            self._pruned[(name, window)] = start
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._prune, (name, start))
