"""Revocations reach every worker within a second, not a token cache's lifetime.

Each worker caches the tokens it has verified (api/auth.py). A thread of its own looks in the
store every `DOSELEDGER_REVOCATION_CHECK_SECONDS` for `Principal` revocations recorded since its
last look, and has the cache forget them. The look is cheap: the head's position, then the
revocations among the positions after the last look (a range of the primary key, filtered by
topic), so it reads only what was written in the meantime, never the whole log.

Positions come in commit order on both stores (SQLite has one writer; the PostgreSQL recorder
takes the events table's lock for each insert), so a revocation behind the last look's head
was seen by it. A look that fails (the database away) is tried again at the next tick: the
cache's own time limit still bounds what a missed look can cost.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.principal import Principal

log = logging.getLogger("doseledger.api")

REVOKED = get_topic(Principal.TokenRevoked)
PAGE = 500


class RevocationWatch:
    def __init__(self, recorder: Any, forget: Any, every: float) -> None:
        self.recorder = recorder
        self.forget = forget  # called with the ids of the principals revoked since the last look
        self.every = every
        self.position = recorder.max_notification_id() or 0  # earlier ones: never cached as valid
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="doseledger-revocations", daemon=True)

    def start(self) -> RevocationWatch:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def look(self) -> list[UUID]:
        """The principals revoked since the last look (forgotten by the cache before this answers)."""
        head = self.recorder.max_notification_id() or 0
        revoked: list[UUID] = []
        start = self.position + 1
        while start <= head:
            page = self.recorder.select_notifications(start, PAGE, stop=head, topics=(REVOKED,))
            revoked.extend(n.originator_id for n in page)
            if len(page) < PAGE:
                break
            start = page[-1].id + 1
        if revoked:
            self.forget(revoked)
        self.position = max(self.position, head)
        return revoked

    def _run(self) -> None:
        while not self._stopped.wait(self.every):
            try:
                self.look()
            except Exception:  # the next tick tries again; the cache's time limit still holds
                log.warning("could not look for revoked tokens", exc_info=True)
