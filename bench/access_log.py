"""What logging reads costs: the access log's price on a read, and on dose appends beside it.

    .venv/bin/python -m bench.access_log [--reads 300] [--doses 400] [URL ...]

Without URLs: a temporary SQLite file and a fresh PostgreSQL schema (as bench.replay). Per store,
each figure the median of 3 runs, in one process, through the API (a TestClient, no network),
a certificate read by a site token three ways: with the log switched off (a no-op in its place),
logged as served (buffered, stored by the writer thread), and logged synchronously (each read's
row inserted before the answer, the alternative to the buffer);
- single-dose appends by the ledger alone, then with one client reading certificates as fast as
  it can beside it, unlogged and logged as served: what the log's inserts take from appends.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from contextlib import nullcontext
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from bench.replay import default_stores
from config.settings import Settings
from ledger.values import Actor
from projections import open_views
from projections.running import start_embedded
from usecases.access_log import AccessLog
from usecases.application import DoseLedger
from usecases.principals import issue_token

SITE = Actor("bench-site", "site")
CLI = {"principal_id": "bench", "role": "admin"}
PERSON = {"full_name": "Trần Văn Đo", "birth_date": "1980-01-01", "province": "01"}


def dose(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "site_id": "01-TYT-001",
        "site_record_id": f"B{n}",
        "vaccine": "EU/1/20/1528",
        "lot": "FA1",
        "administered_at": "2021-08-01",
        **fields,
    }


class Unlogged(AccessLog):
    """The log switched off: what a read costs without it."""

    def record(self, *args: Any, **kwargs: Any) -> int:
        return 0


class Synchronous(AccessLog):
    """Each read's row inserted before the answer leaves (no buffer)."""

    def record(self, *args: Any, **kwargs: Any) -> int:
        made = super().record(*args, **kwargs)
        self.flush()
        return made


def record_us(log: AccessLog, person_id: Any, calls: int = 20_000) -> float:
    """What logging one read costs the request itself: an append to the buffer (the writer
    thread stores them meanwhile)."""
    started = time.perf_counter()
    for _ in range(calls):
        log.record("bench-site", "site", [person_id], "certificate", "127.0.0.1")
    elapsed = time.perf_counter() - started
    log.flush()
    return elapsed * 1e6 / calls


def read_ms(client: TestClient, token: str, url: str, reads: int) -> float:
    started = time.perf_counter()
    for _ in range(reads):
        assert client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    return (time.perf_counter() - started) * 1000 / reads


def appends_per_s(ledger: DoseLedger, doses: int, start: int, beside: Any = None) -> float:
    """Doses appended per second by one writer, with `beside(stop)` reading in another thread."""
    stop = threading.Event()
    reader = threading.Thread(target=beside, args=(stop,)) if beside else None
    if reader:
        reader.start()
    started = time.perf_counter()
    for n in range(start, start + doses):
        ledger.record_dose(actor=SITE, person={**PERSON, "full_name": f"Người {n}"}, **dose(n))
    elapsed = time.perf_counter() - started
    stop.set()
    if reader:
        reader.join()
    return doses / elapsed


def measure(url: str, reads: int, doses: int) -> dict[str, float]:
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": url})
    projector = start_embedded(url)  # as `doseledger serve` runs on SQLite: the same for every figure
    views = open_views(url, ledger=ledger)
    app = create_app(Settings(database_url=url, group_commit_ms=0), ledger=ledger, views=views)
    site_token = issue_token(ledger, role="site", sites=["01-TYT-001"], actor=CLI)[0]
    person_id = ledger.record_dose(actor=SITE, person=PERSON, **dose(0)).person_id
    url_path = f"/v1/certificates/{person_id}"
    assert views.wait(ledger.head(), 30), "the certificate view did not catch up"
    figures: dict[str, list[float]] = {
        k: []
        for k in (
            "record_us",
            "unlogged_read_ms",
            "logged_read_ms",
            "synchronous_read_ms",
            "appends_alone",
            "appends_unlogged_reads",
            "appends_logged_reads",
        )
    }
    served = ledger.access_log
    ways = {"unlogged": Unlogged(ledger), "logged": served, "synchronous": Synchronous(ledger)}
    with TestClient(app) as client:

        def reading(way: str) -> Any:
            def loop(stop: threading.Event) -> None:
                ledger.access_log = ways[way]
                while not stop.is_set():
                    client.get(url_path, headers={"Authorization": f"Bearer {site_token}"})

            return loop

        next_dose = 1
        for round_ in range(3):
            order = list(ways)[round_:] + list(ways)[:round_]  # each way first once: no warm-up favours one
            for way in order:
                ledger.access_log = ways[way]
                figures[f"{way}_read_ms"].append(read_ms(client, site_token, url_path, reads))
            figures["record_us"].append(record_us(served, person_id))
            for key, beside in (
                ("appends_alone", None),
                ("appends_unlogged_reads", reading("unlogged")),
                ("appends_logged_reads", reading("logged")),
            ):
                figures[key].append(appends_per_s(ledger, doses, next_dose, beside))
                next_dose += doses
    ledger.access_log = served
    for log in ways.values():
        log.close()
    projector.stop()
    ledger.close()
    return {k: statistics.median(v) for k, v in figures.items()}


def report(url: str, r: dict[str, float]) -> None:
    print(f"\n{url.split('://')[0]} (medians of 3)")
    print(f"  {'logging one read, the request part':<46}{r['record_us']:6.1f} us")
    base = r["unlogged_read_ms"]
    for key, name in (
        ("unlogged_read_ms", "certificate read, log switched off"),
        ("logged_read_ms", "certificate read, logged (buffered)"),
        ("synchronous_read_ms", "certificate read, logged synchronously"),
    ):
        print(f"  {name:<46}{r[key]:6.2f} ms  {r[key] / base:5.2f}x")
    base = r["appends_alone"]
    print(f"  {'dose appends alone':<46}{base:6.0f} /s   1.00x")
    for key, name in (
        ("appends_unlogged_reads", "beside unlogged reads"),
        ("appends_logged_reads", "beside logged reads"),
    ):
        print(f"  dose appends {name:<33}{r[key]:6.0f} /s  {r[key] / base:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="*")
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--doses", type=int, default=400)
    args = parser.parse_args()
    with nullcontext(args.urls) if args.urls else default_stores() as urls:
        for url in urls:
            report(url, measure(url, args.reads, args.doses))


if __name__ == "__main__":
    main()
