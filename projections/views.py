"""The read side as the API sees it: the seven views, their status, and read-your-writes.

With a read URL (a streaming standby: store/replica.py) the views' rows and positions are read
there, and `wait` waits for the standby's replay of them: a `min_position` read answers from the
standby only once it holds the rows of that position, never older ones.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from projections.backlog import Backlog, BacklogView
from projections.certificates import Certificates, CertificatesView
from projections.corrections import Corrections, CorrectionsView
from projections.engine.paging import PagedProjection
from projections.engine.standby_reads import RETRIED, StandbySession
from projections.engine.stores import construct_view
from projections.engine.tables import LEDGER, Tables
from projections.issuances import Issuances, IssuancesView
from projections.localities import Localities, LocalitiesView
from projections.review import Review, ReviewView
from projections.statistics import Statistics, StatisticsView
from store.replica import open_read_datastore, replica_lag, separate_read_url
from store.url import URL_KEY, database_url
from usecases.application import DoseLedger

__all__ = ["PROJECTIONS", "Views", "construct_view", "open_ledger", "open_views", "projection_names"]

PROJECTIONS: dict[str, type[PagedProjection[Any]]] = {
    p.name: p for p in (Certificates, Statistics, Localities, Review, Corrections, Issuances, Backlog)
}


def open_ledger(url: str | None = None) -> DoseLedger:
    """The ledger as the read side opens it: for its events, its mapper and its database."""
    return DoseLedger(env={URL_KEY: url or database_url()})


def projection_names(name: str | None) -> list[str]:
    """'all' (or None) → every projection; else the one named, checked."""
    if name in (None, "all"):
        return list(PROJECTIONS)
    if name not in PROJECTIONS:
        raise ValueError(f"no projection named {name!r}; there are {', '.join(PROJECTIONS)}")
    return [name]


class Views:
    """The views: `certificates`, `statistics`, `localities`, `review`, `corrections`,
    `issuances`, `backlog`."""

    certificates: CertificatesView
    statistics: StatisticsView
    localities: LocalitiesView
    review: ReviewView
    corrections: CorrectionsView
    issuances: IssuancesView
    backlog: BacklogView

    def __init__(self, ledger: DoseLedger, *, owns_ledger: bool = True, read_url: str | None = None):
        self.ledger = ledger
        self._owns_ledger = owns_ledger
        # The tables are made (and migrated) on the primary; only their reads go to the standby.
        self.by_name: dict[str, Tables] = {name: construct_view(ledger, p) for name, p in PROJECTIONS.items()}
        self.replica: Any = None  # the standby's connection pool, when reads go to one
        if read_url is not None:
            self.replica = open_read_datastore(read_url)
            for view in self.by_name.values():
                view.read_from(self.replica)
        for name, view in self.by_name.items():
            setattr(self, name, view)

    def replica_status(self) -> dict[str, Any] | None:
        """How far the standby the views read from is behind the primary (store.replica's
        `replica_lag`, with its recovery conflicts), and `retried_reads`: the read statements
        this process ran again after the standby cancelled them; None when the views read from
        the store itself."""
        if self.replica is None:
            return None
        return {**replica_lag(self.ledger.recorder.datastore, self.replica), "retried_reads": RETRIED.count}

    def status(self) -> list[dict[str, Any]]:
        """Each projection's position against the ledger's head, and whether it runs.

        [{name, position, head, lag_events, lag_seconds, state: running|stopped|failed, error}].
        lag_events counts positions (PostgreSQL may skip a number after a failed write);
        lag_seconds is the age of the oldest event the view has not applied (0 when none).
        """
        head = self.ledger.head()
        now = time.time()
        found = []
        for name, view in self.by_name.items():
            position = view.position() or 0
            state, error = view.state(now)
            lag = max(head - position, 0)
            found.append(
                {
                    "name": name,
                    "position": position,
                    "head": head,
                    "lag_events": lag,
                    "lag_seconds": self._age(position + 1) if lag else 0.0,
                    "state": state,
                    "error": error,
                }
            )
        return found

    def _age(self, position: int) -> float:
        notifications = self.ledger.recorder.select_notifications(start=position, limit=1)
        if not notifications:
            return 0.0
        event: Any = self.ledger.mapper.to_domain_event(notifications[0])  # every event has its time
        return max(float((datetime.now(UTC) - event.timestamp).total_seconds()), 0.0)

    def wait(self, position: int | None, timeout: float) -> bool:
        """True once every view has applied the ledger up to `position` (read-your-writes);
        False if that takes longer than `timeout` seconds. None (nothing written): True."""
        if position is None:
            return True
        deadline = time.monotonic() + timeout
        pause = 0.005
        pending = list(self.by_name.values())
        while True:
            if self.replica is not None:
                # On a standby every view's position in one round trip: the reads waiting here
                # are many under load, and each poll was one query per view.
                pending = [] if self._standby_reached(position, deadline - time.monotonic()) else pending
            else:
                pending = [v for v in pending if (v.position() or 0) < position]
            if not pending:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.1)

    def _standby_reached(self, position: int, within: float) -> bool:
        """Whether every view's position on the standby is at `position` or past it. A
        connection is waited for `within` seconds at most (the wait's time left): a standby
        away raises the store's OperationalError (the API's 503) then, not at the pool's
        connect timeout."""
        if not hasattr(self, "_positions_statement"):
            self._positions_statement = (
                "SELECT COUNT(*) AS n, MIN(notification_id) AS low FROM ("
                + " UNION ALL ".join(
                    f"SELECT notification_id FROM {view.tracking_table()} WHERE application_name = %(ledger)s"
                    for view in self.by_name.values()
                )
                + ") positions"
            )
        statement = self._positions_statement
        try:
            with StandbySession(self.replica, transaction=False, checkout_timeout=within) as session:
                row = session.attempt(
                    lambda cursor: cursor.connection.execute(
                        statement, {"ledger": LEDGER}, prepare=True
                    ).fetchone()
                )
        except psycopg.errors.UndefinedTable:
            # The views' tables are made on the primary: a standby that has not replayed their
            # creation yet holds no position at all, which is not reached, not an error.
            return False
        return bool(row and row["n"] == len(self.by_name) and row["low"] >= position)

    def close(self) -> None:
        for view in self.by_name.values():
            view.close_readers()
        if self.replica is not None:
            self.replica.close()
        if self._owns_ledger:
            self.ledger.close()

    def __enter__(self) -> Views:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_views(
    url: str | None = None, *, ledger: DoseLedger | None = None, read_url: str | None = None
) -> Views:
    """The views of the ledger at `url` (default: $DOSELEDGER_DATABASE_URL).

    Give an open `ledger` to share its connection pool; the views then leave it open. Give a
    `read_url` (a standby of `url`: store.replica) to read the views there; the write URL
    itself, or None, reads them from the store.
    """
    separate = separate_read_url(url or database_url(), read_url)
    if ledger is not None:
        return Views(ledger, owns_ledger=False, read_url=separate)
    return Views(open_ledger(url), read_url=separate)
