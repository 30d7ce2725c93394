"""The console's sessions ended by signing out, in a table beside the events on both stores.

A session cookie is signed and timestamped (api/pages/session.py): the server alone cannot take
back one it issued, so signing out records the session's id here, and every page looks it up. A
copied cookie (a proxy log, another tab's devtools) opens nothing once its session is ended.
A row is kept only as long as a session lives: after that the cookie's age refuses it anyway, so
older rows are deleted when a session ends. Rows are the state of browsers, not events: the
ledger's log is never touched.

A session id is random, issued for one browser: only its sha256 is stored (the id, with the
cookie's signature, is what opens pages; the digest opens nothing). No token is ever here.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from store.side_tables import SideTable

TABLE = "ended_page_sessions"
COLUMNS = "session TEXT PRIMARY KEY, ended_at DOUBLE PRECISION NOT NULL"


class EndedSessions(SideTable):
    """The ended sessions, in the ledger's own database (its datastore and connection pool)."""

    table = TABLE
    columns = COLUMNS

    def __init__(self, datastore: Any, lifetime_seconds: float) -> None:
        super().__init__(datastore)
        self.lifetime = lifetime_seconds
        self._end = self._statement(
            "INSERT INTO {t} (session, ended_at) VALUES ({m}, {m}) ON CONFLICT (session) DO NOTHING"
        )
        self._ended = self._statement("SELECT 1 FROM {t} WHERE session = {m}")
        self._prune = self._statement("DELETE FROM {t} WHERE ended_at < {m}")

    def end(self, session_id: str) -> None:
        """Record the session as ended (again: no change), and forget those past any lifetime."""
        now = time.time()
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._end, (_digest(session_id), now))
            c.execute(self._prune, (now - self.lifetime,))

    def ended(self, session_id: str) -> bool:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._ended, (_digest(session_id),))
            return c.fetchone() is not None


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()
