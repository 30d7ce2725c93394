"""Running the ledger's projections: embedded in a process, as `doseledger project`, or rebuilt.

The engine (projections/engine) runs any view; this module gives it the ledger's views
(PROJECTIONS) and the ledger's database.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from projections.certificates import Certificates
from projections.engine.rebuild import Progress, ProjectorRunning, Quiet, Rebuilt, rebuild_views
from projections.engine.runner import ProjectionWorker
from projections.engine.shared_follow import LedgerFeed
from projections.engine.stores import construct_view
from projections.views import PROJECTIONS, open_ledger, projection_names
from usecases.application import DoseLedger
from usecases.issuance import Issuer, Sign

__all__ = [
    "EmbeddedProjector",
    "ProjectorRunning",
    "Rebuilt",
    "certificate_issuer",
    "issue_missing",
    "rebuild",
    "run_worker",
    "start_embedded",
]

log = logging.getLogger("projections")


def certificate_issuer(ledger: DoseLedger, sign: Sign | None = None) -> Issuer:
    """The issuer of the ledger's certificates, signing with `sign`. Without a key (None, said
    once in the log) it signs nothing but still revokes what a later version supersedes."""
    if sign is None:
        log.warning("no certificate signing keys: certificates are not signed")
    return Issuer(ledger, sign)


def issue_missing(url: str | None = None, sign: Sign | None = None) -> int | None:
    """`doseledger certificates issue`: sign and record the current certificate versions that
    have no issuance (after a rebuild, or keys made since), and revoke the issued ones no
    longer current. The number issued; None when no key signs (then only revoked)."""
    ledger = open_ledger(url)
    try:
        issuer = certificate_issuer(ledger, sign)
        projection = Certificates(view=construct_view(ledger, Certificates))
        issued = projection.issue_missing(issuer)
        return None if sign is None else issued
    finally:
        ledger.close()


class EmbeddedProjector:
    """Every projection (or some), each in a worker thread of this process. The certificates'
    worker signs through `sign` (None: no certificate is signed)."""

    def __init__(
        self, url: str | None = None, names: list[str] | None = None, sign: Sign | None = None, **options: Any
    ):
        self.ledger = open_ledger(url)
        wanted = names or list(PROJECTIONS)
        # One read of the ledger for all of them (engine/shared_follow).
        self.feed = LedgerFeed(self.ledger.recorder)
        self.workers = [
            ProjectionWorker(PROJECTIONS[n], self.ledger, feed=self.feed, **options) for n in wanted
        ]
        for worker in self.workers:
            if isinstance(worker.projection, Certificates):
                worker.projection.issuer = certificate_issuer(self.ledger, sign)

    def start(self) -> EmbeddedProjector:
        for worker in self.workers:
            worker.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            worker.join(timeout)
        self.ledger.close()

    def __enter__(self) -> EmbeddedProjector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded(
    url: str | None = None, names: list[str] | None = None, sign: Sign | None = None, **options: Any
) -> EmbeddedProjector:
    """Run the projections in background threads of this (the serving) process."""
    return EmbeddedProjector(url, names, sign, **options).start()


def run_worker(url: str | None = None, names: list[str] | None = None, sign: Sign | None = None) -> int:
    """`doseledger project`: run the projections until SIGTERM or SIGINT (the certificates'
    issuer signing through `sign`)."""
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        log.info("signal %s: stopping the projections", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    projector = start_embedded(url, names, sign)
    log.info("running projections: %s", ", ".join(w.name for w in projector.workers))
    while not stopping.wait(1.0):
        pass
    projector.stop()
    return 0


def rebuild(
    url: str | None = None,
    name: str = "all",
    progress: Progress | bool | None = None,
    wait: float = 10.0,
    by_person: bool = True,
) -> list[Rebuilt]:
    """Rebuild a view (or all) from the whole ledger (see engine/rebuild), telling `progress`
    how far it is (None or False: nobody)."""
    names = projection_names(name)
    ledger = open_ledger(url)
    shown = progress if progress is not None and not isinstance(progress, bool) else Quiet()
    try:
        return rebuild_views(ledger, [PROJECTIONS[n] for n in names], shown, wait, by_person)
    finally:
        ledger.close()
