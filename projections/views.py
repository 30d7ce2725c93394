"""The read side as the API sees it: the six views, their status, and read-your-writes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from projections.certificates import Certificates, CertificatesView
from projections.corrections import Corrections, CorrectionsView
from projections.engine.paging import PagedProjection
from projections.engine.stores import construct_view
from projections.engine.tables import Tables
from projections.issuances import Issuances, IssuancesView
from projections.localities import Localities, LocalitiesView
from projections.review import Review, ReviewView
from projections.statistics import Statistics, StatisticsView
from store.url import URL_KEY, database_url
from usecases.application import DoseLedger

__all__ = ["PROJECTIONS", "Views", "construct_view", "open_ledger", "open_views", "projection_names"]

PROJECTIONS: dict[str, type[PagedProjection[Any]]] = {
    p.name: p for p in (Certificates, Statistics, Localities, Review, Corrections, Issuances)
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
    `issuances`."""

    certificates: CertificatesView
    statistics: StatisticsView
    localities: LocalitiesView
    review: ReviewView
    corrections: CorrectionsView
    issuances: IssuancesView

    def __init__(self, ledger: DoseLedger, *, owns_ledger: bool = True):
        self.ledger = ledger
        self._owns_ledger = owns_ledger
        self.by_name: dict[str, Tables] = {name: construct_view(ledger, p) for name, p in PROJECTIONS.items()}
        for name, view in self.by_name.items():
            setattr(self, name, view)

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
            pending = [v for v in pending if (v.position() or 0) < position]
            if not pending:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.1)

    def close(self) -> None:
        for view in self.by_name.values():
            view.close_readers()
        if self._owns_ledger:
            self.ledger.close()

    def __enter__(self) -> Views:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_views(url: str | None = None, *, ledger: DoseLedger | None = None) -> Views:
    """The views of the ledger at `url` (default: $DOSELEDGER_DATABASE_URL).

    Give an open `ledger` to share its connection pool; the views then leave it open.
    """
    if ledger is not None:
        return Views(ledger, owns_ledger=False)
    return Views(open_ledger(url))
