"""One benchmark run on one store: every figure beside eventsourcing's baseline.

Everything but the import runs on one database, in this order: the baseline (a trivial aggregate,
one save() per event, then batched), in-process dose appends, the HTTP server (single doses at
each concurrency, batches, certificate reads, the projections' lag during a load run), then the
projections' rebuild and one person's 50-event history on the events those runs left behind,
then the growth runs (the appends measured again with the store filled to 1 M and 5 M events).
Then what sealing personal fields costs (bench.sealing: fresh stores, sealed beside unsealed);
then the standard feeds beside the JSON batch path (bench.feeds: fresh stores); the bytes a
realistic mix takes on disk (bench.footprint: a fresh store); last, on PostgreSQL, the writes
with no standby, an asynchronous and a synchronous one (bench.replication: a primary and a
standby of its own), certificate reads served by a standby beside the primary
(bench.replica_reads: a pair of its own), and many sites' kept-alive sessions held on one server
(bench.sessions: a store of its own).
The import needs an empty store and a process of its own (its peak RSS is its own): it runs on
fresh stores, as `bench.imports` does, with its baseline (`record_doses`) measured there too.

Each measure returns its repetitions; `Row` keeps the median, min and max.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    appends,
    feeds,
    footprint,
    http,
    imports,
    replay,
    replica_reads,
    replication,
    sealing,
    sessions,
    signing,
)
from bench.figures import Result, Sizes, repeat
from bench.served import grown, over_http

__all__ = ["Result", "Sizes", "environment", "run_store"]


def run_store(kind: str, sizes: Sizes, say: Callable[[str], None] = print) -> Result:
    result = Result(kind)
    with http.store(kind) as url:
        say(f"[{kind}] baseline: a trivial aggregate, one save() per event, then batched")
        result.add(
            "baseline_single",
            "baseline: trivial aggregate, one save() per event",
            "events/s",
            repeat(sizes.repeats, lambda _: appends.raw_rate(url, sizes.appends)),
        )
        result.add(
            "baseline_batched",
            "baseline: trivial aggregate, 100 events per save()",
            "events/s",
            repeat(sizes.repeats, lambda _: appends.raw_batched_rate(url, sizes.appends * 10)),
        )
        say(f"[{kind}] dose appends in-process (record_dose, one writer)")
        result.add(
            "inprocess_dose",
            "record_dose in-process, one writer",
            "doses/s",
            repeat(sizes.repeats, lambda r: appends.ledger_rate(url, sizes.appends, r)),
            "baseline_single",
        )
        token, people = http.prepare(url, sizes.people)
        over_http(kind, url, sizes, token, people, result, say)
        if sizes.scope == "all":
            read_side(url, sizes, result, say)
            grown(kind, url, sizes, token, result, say)
    say(f"[{kind}] retro import of {sizes.import_rows:,} generated rows, then {sizes.import_rows_large:,}")
    imported(kind, sizes, result)
    if sizes.scope == "targets":
        if kind == "postgresql":
            sites_sessions(kind, sizes, result, say)
        return result
    say(f"[{kind}] sealing personal fields: single doses and imports, sealed beside unsealed")
    sealing.into(result, kind, sizes.repeats, sizes.sealing_scale)
    say(f"[{kind}] signed certificates: the DCC and SHC reads beside the plain read, signing a version")
    signing.into(result, kind, sizes.repeats)
    say(f"[{kind}] the standard feeds: HL7 v2 over MLLP (and HTTP) beside the JSON batch path")
    feeds.into(result, kind, sizes.repeats, max(1000, int(4000 * sizes.sealing_scale)))
    say(
        f"[{kind}] bytes on disk: {sizes.footprint_people:,} people of a realistic mix, per event and per person"
    )
    footprint.into(result, kind, sizes.footprint_people)
    if kind == "postgresql":
        say(f"[{kind}] writes with no standby, an asynchronous and a synchronous one (a primary of its own)")
        replication.into(result, sizes.repeats, sizes.appends, sizes.batches, say)
        say(f"[{kind}] certificate reads served by a standby beside the primary (a pair of its own)")
        replica_reads.into(result, sizes.repeats, sizes.reads)
        sites_sessions(kind, sizes, result, say)
    return result


def sites_sessions(kind: str, sizes: Sizes, result: Result, say: Callable[[str], None]) -> None:
    plan = sizes.sessions
    say(f"[{kind}] {plan.sessions:,} sites' kept-alive sessions on one server ({plan.workers} workers)")
    sessions.into(result, kind, plan, say)


# --- the read side and the history ----------------------------------------------------------------


def read_side(url: str, sizes: Sizes, result: Result, say: Callable[[str], None]) -> None:
    from bench.projections import read_rate
    from projections.running import rebuild
    from usecases.application import DoseLedger

    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": url}) as ledger:
        say(f"[{kind_of(url)}] reading and decoding every event (the projections' baseline), then rebuild")
        result.add(
            "read_decode",
            "read + decode every stored event (library)",
            "events/s",
            repeat(sizes.repeats, lambda _: read_rate(ledger)),
        )
        # The views rebuilt together share one read of the ledger: each Rebuilt has the run's time.
        runs = [rebuild(url, "all", progress=False) for _ in range(sizes.repeats)]
        result.add(
            "rebuild_all",
            "projections: full rebuild, all views",
            "events/s",
            [r[0].events_per_second for r in runs],
            "read_decode",
        )
        alone = [rebuild(url, "certificates", progress=False)[0] for _ in range(sizes.repeats)]
        result.add(
            "rebuild_certificates",
            "  certificates view alone (person by person)",
            "events/s",
            [r.events_per_second for r in alone],
            "read_decode",
        )
        paged = [
            rebuild(url, "certificates", progress=False, by_person=False)[0] for _ in range(sizes.repeats)
        ]
        result.add(
            "rebuild_certificates_paged",
            "  certificates view alone, page by page (as a projector catching up)",
            "events/s",
            [r.events_per_second for r in paged],
            "read_decode",
        )
        result.add("events_in_store", "  events in the store", "events", [runs[0][0].events])
        say(f"[{kind_of(url)}] one person's 50-event history")
        person = replay.person_with_50_events(ledger)
        from replay import history

        result.add(
            "history_50",
            "one person's 50-event history (replay.history)",
            "ms",
            [
                replay.median_ms(lambda: history(ledger, person), sizes.history_runs)
                for _ in range(sizes.repeats)
            ],
        )
        result.add(
            "library_get_50",
            "  library repository.get of the same 50 events",
            "ms",
            [
                replay.median_ms(lambda: ledger.repository.get(person, version=50), sizes.history_runs)
                for _ in range(sizes.repeats)
            ],
        )


def kind_of(url: str) -> str:
    return url.split(":", 1)[0]


# --- the import -----------------------------------------------------------------------------------


def imported(kind: str, sizes: Sizes, result: Result) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp_name:
        tmp = Path(tmp_name)
        data, base = tmp / "rows.csv", tmp / "baseline.csv"
        imports.generate(data, sizes.import_rows)
        imports.generate(base, sizes.import_baseline_rows)
        runs = [imports.measured("import", kind, data, 500, tmp) for _ in range(sizes.repeats)]
        baseline = [imports.measured("baseline", kind, base, 500, tmp) for _ in range(sizes.repeats)]
        data.unlink()
        imports.generate(data, sizes.import_rows_large)
        large = imports.measured("import", kind, data, 500, tmp)
    result.add(
        "import",
        f"retro import, {sizes.import_rows:,} CSV rows",
        "rows/s",
        [r["rows_per_s"] for r in runs],
        "baseline_batched",
    )
    result.add("import_rss", "  peak RSS of the import process", "MiB", [r["peak_rss_mib"] for r in runs])
    result.add(
        "import_large",
        f"retro import, {sizes.import_rows_large:,} CSV rows (one run)",
        "rows/s",
        [large["rows_per_s"]],
        "baseline_batched",
    )
    result.add("import_large_rss", "  peak RSS of the import process", "MiB", [large["peak_rss_mib"]])
    result.add(
        "import_record_doses",
        f"  record_doses on the same rows, parsed in memory ({sizes.import_baseline_rows:,})",
        "rows/s",
        [r["rows_per_s"] for r in baseline],
        "baseline_batched",
    )


def environment() -> dict[str, Any]:
    import platform
    from importlib.metadata import version

    versions = {
        name: version(name)
        for name in ("eventsourcing", "psycopg", "fastapi", "uvicorn", "orjson", "pydantic", "aiohttp")
    }
    try:
        import psycopg

        with psycopg.connect(http.ADMIN_URL) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            versions["postgresql"] = row[0] if row else "unknown"
    except Exception as error:  # noqa: BLE001 - the figures for SQLite stand without it
        versions["postgresql"] = f"unavailable ({error.__class__.__name__})"
    import sqlite3

    versions["sqlite"] = sqlite3.sqlite_version
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "versions": versions,
    }
