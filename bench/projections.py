"""Projection throughput on both stores: rebuild (events/s) and live lag while appends run.

    .venv/bin/python -m bench.projections [--people 20000] [--repeats 3] [--live 20] [STORE ...]

STORE is sqlite or postgresql (default both). Each store gets a fresh database seeded with the
demo data set (`cli.demo.seed`; --people 20000 is the default demo ×10). Then, in one run:

- baseline: reading and decoding every stored event (what any projection must at least do);
- rebuild: each view alone, then all together (one shared read of the ledger), dropped and
  replayed a page per transaction (`projections.running.rebuild`), `--repeats` times, median
  events/s;
- per event: the first 5,000 events applied one transaction each (the library runner's path),
  for the ratio the page path gains;
- live: one writer recording doses as fast as it can for `--live` seconds, first with no
  projection running, then with them running (SQLite: threads of this process, as when
  embedded in the server, and a `doseledger project` worker process; PostgreSQL: the worker);
  the lag of the slowest view sampled four times a second.

Medians of the repeats; absolute rates drift on a shared machine, the ratios less.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from cli.demo import seed
from ledger.values import Actor
from projections import open_views
from projections.running import rebuild, start_embedded
from projections.views import PROJECTIONS, construct_view
from usecases.application import DoseLedger

ADMIN_URL = os.environ.get("DOSELEDGER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def fresh_store(kind: str, workdir: str) -> tuple[str, Any]:
    """A URL of an empty store, and what drops it afterwards."""
    if kind == "sqlite":
        return f"sqlite:///{workdir}/bench.db", lambda: None
    name = f"doseledger_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}", drop


def read_rate(ledger: DoseLedger) -> float:
    started, position, events = time.perf_counter(), 0, 0
    while page := ledger.recorder.select_notifications(start=position, limit=500, inclusive_of_start=False):
        for notification in page:
            ledger.mapper.to_domain_event(notification)
        position, events = page[-1].id, events + len(page)
    return events / (time.perf_counter() - started)


def per_event_rate(ledger: DoseLedger, url: str, name: str, events: int) -> float:
    view = construct_view(ledger, PROJECTIONS[name])
    view.drop()
    projection = PROJECTIONS[name](view=view)
    notifications = ledger.recorder.select_notifications(start=1, limit=events)
    started, position = time.perf_counter(), None
    for notification in notifications:
        position = projection.process_notifications([notification], ledger.mapper, after=position)
    rate = len(notifications) / (time.perf_counter() - started)
    rebuild(url, name, progress=False)  # leave it whole again
    return rate


class Writer:
    """One site system recording doses as fast as the ledger takes them."""

    def __init__(self, ledger: DoseLedger, tag: str):
        self.ledger, self.tag = ledger, tag
        self.people = [
            ledger.register_person(
                {"full_name": f"Người đo {k}", "birth_date": "1980-01-01", "province": "01"}
            ).person_id
            for k in range(200)
        ]
        self.written = 0
        self._writing = threading.Event()
        self._thread = threading.Thread(target=self._write)

    def _write(self) -> None:
        actor = Actor("bench", "site")
        while self._writing.is_set():
            n = self.written
            self.ledger.record_dose(
                site_id="01-TYT-001",
                site_record_id=f"{self.tag}-{n}",
                vaccine="EU/1/20/1528",
                administered_at="2021-09-01",
                person_id=self.people[n % len(self.people)],
                actor=actor,
            )
            self.written += 1

    def __enter__(self) -> Writer:
        self._writing.set()
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._writing.clear()
        self._thread.join()
        self.rate = self.written / (time.perf_counter() - self._started)


def live_lag(url: str, ledger: DoseLedger, seconds: float, embedded: bool) -> dict[str, Any]:
    tag = "embedded" if embedded else "worker"
    with Writer(ledger, f"ALONE-{tag}") as alone:  # the append rate with no projection running
        time.sleep(seconds / 2)
    stop: Callable[[], None]
    if embedded:
        projector = start_embedded(url)
        stop = projector.stop
    else:
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "--database-url", url, "project"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def stop_worker() -> None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)

        stop = stop_worker
    views = open_views(url)
    try:
        assert views.wait(ledger.head(), 300), views.status()
        samples_events, samples_seconds = [], []
        with Writer(ledger, f"LIVE-{tag}") as live:
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                status = views.status()
                samples_events.append(max(s["lag_events"] for s in status))
                samples_seconds.append(max(s["lag_seconds"] for s in status))
                time.sleep(0.25)
        head = ledger.head()
        caught = time.perf_counter()
        assert views.wait(head, 300)
        return {
            f"{tag}: doses_per_s_alone": alone.rate,
            f"{tag}: doses_per_s_projecting": live.rate,
            f"{tag}: lag_events_median": statistics.median(samples_events),
            f"{tag}: lag_events_max": max(samples_events),
            f"{tag}: lag_seconds_median": statistics.median(samples_seconds),
            f"{tag}: lag_seconds_p95": sorted(samples_seconds)[int(0.95 * (len(samples_seconds) - 1))],
            f"{tag}: lag_seconds_max": max(samples_seconds),
            f"{tag}: catch_up_after_s": time.perf_counter() - caught,
        }
    finally:
        views.close()
        stop()


def measure(kind: str, people: int, repeats: int, live_seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        url, drop = fresh_store(kind, workdir)
        try:
            ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": url})
            started = time.perf_counter()
            seed(ledger, people=people)
            seeded = time.perf_counter() - started
            events = len(ledger.recorder.select_notifications(start=1, limit=10**7))
            result: dict[str, Any] = {"events": events, "seed_events_per_s": events / seeded}
            result["read_decode_per_s"] = statistics.median(read_rate(ledger) for _ in range(repeats))
            for name in PROJECTIONS:  # each alone: what its own fold and writes cost
                result[f"rebuild_{name}_per_s"] = statistics.median(
                    rebuild(url, name, progress=False)[0].events_per_second for _ in range(repeats)
                )
            # All together share one read and decode of the ledger (each Rebuilt has the run's time).
            result["rebuild_all_per_s"] = statistics.median(
                rebuild(url, "all", progress=False)[0].events_per_second for _ in range(repeats)
            )
            result["per_event_certificates_per_s"] = per_event_rate(
                ledger, url, "certificates", min(events, 5000)
            )
            result["page_over_event_ratio"] = (
                result["rebuild_certificates_per_s"] / result["per_event_certificates_per_s"]
            )
            if kind == "sqlite":  # SQLite runs them in the server's process; a worker is possible too
                result.update(live_lag(url, ledger, live_seconds, embedded=True))
            result.update(live_lag(url, ledger, live_seconds, embedded=False))
            ledger.close()
            return result
        finally:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="*", default=["sqlite", "postgresql"])
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--live", type=float, default=20.0)
    args = parser.parse_args()
    results = {kind: measure(kind, args.people, args.repeats, args.live) for kind in args.stores}

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"projections: demo data with {args.people:,} people (medians of {args.repeats})")
    table.add_column("measure")
    for kind in results:
        table.add_column(kind, justify="right")
    keys = list(dict.fromkeys(k for r in results.values() for k in r))
    for key in keys:
        table.add_row(
            key,
            *(
                "" if key not in r else f"{r[key]:,.2f}" if isinstance(r[key], float) else f"{r[key]:,}"
                for r in results.values()
            ),
        )
    Console().print(table)


if __name__ == "__main__":
    main()
