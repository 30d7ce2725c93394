"""One benchmark run on one store: every figure of issue 8 beside eventsourcing's baseline.

Everything but the import runs on one database, in this order: the baseline (a trivial aggregate,
one save() per event, then batched), in-process dose appends, the HTTP server (single doses at
each concurrency, batches, certificate reads, the projections' lag during a load run), then the
projections' rebuild and one person's 50-event history on the events those runs left behind,
then the growth runs (the appends measured again with the store filled to 1 M and 5 M events).
The import needs an empty store and a process of its own (its peak RSS is its own): it runs on
fresh stores, as `bench.imports` does, with its baseline (`record_doses`) measured there too.

Each measure returns its repetitions; `Row` keeps the median, min and max.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import appends, growth, http, imports, replay


@dataclass(frozen=True)
class Sizes:
    appends: int  # events per baseline / in-process repetition
    requests: int  # single-dose requests per concurrency level and repetition
    concurrency: tuple[int, ...]
    batches: int  # requests of `batch_size` doses per repetition
    batch_size: int
    reads: int  # certificate reads per repetition
    lag_requests: int  # single-dose requests in the load run the lag is sampled during
    import_rows: int
    import_rows_large: int  # imported once (a run of its own takes minutes)
    import_baseline_rows: int
    workers: tuple[int, ...]  # uvicorn workers for the 32-client run
    repeats: int
    history_runs: int
    people: int  # registered before the HTTP runs, each with a first dose
    growth: tuple[int, ...]  # events stored before the growth runs measure appends again
    growth_repeats: int  # more than the others: a level's batch rates spread by ±15 % over 3

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            appends=200,
            requests=300,
            concurrency=(1, 8, 32, 64),
            batches=2,
            batch_size=1000,
            reads=300,
            lag_requests=600,
            import_rows=2000,
            import_rows_large=5000,
            import_baseline_rows=1000,
            workers=(1,),
            repeats=1,
            history_runs=5,
            people=2000,
            growth=(30_000,),
            growth_repeats=1,
        )

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            appends=1000,
            requests=2000,
            concurrency=(1, 8, 32, 64),
            batches=4,
            batch_size=1000,
            reads=3000,
            lag_requests=8000,
            import_rows=100_000,
            import_rows_large=1_000_000,
            import_baseline_rows=10_000,
            workers=(1, 2),
            repeats=3,
            history_runs=30,
            people=http.PEOPLE,
            growth=(1_000_000, 5_000_000),
            growth_repeats=5,
        )


@dataclass
class Row:
    key: str
    label: str
    unit: str
    runs: list[float]
    baseline: str | None = None  # the key of the row this figure is a ratio to

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "unit": self.unit,
            "median": self.median,
            "min": min(self.runs),
            "max": max(self.runs),
            "runs": self.runs,
            "baseline": self.baseline,
        }


@dataclass
class Result:
    store: str
    rows: dict[str, Row] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)  # for the plots: lag over time, per level

    def add(self, key: str, label: str, unit: str, runs: list[float], baseline: str | None = None) -> None:
        self.rows[key] = Row(key, label, unit, [float(r) for r in runs], baseline)

    def ratio(self, key: str) -> float | None:
        row = self.rows[key]
        if row.baseline is None:
            return None
        return row.median / self.rows[row.baseline].median


def repeat(times: int, measure: Callable[[int], float]) -> list[float]:
    return [measure(run) for run in range(times)]


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
        read_side(url, sizes, result, say)
        grown(kind, url, sizes, token, result, say)
    say(f"[{kind}] retro import of {sizes.import_rows:,} generated rows, then {sizes.import_rows_large:,}")
    imported(kind, sizes, result)
    return result


# --- over HTTP ------------------------------------------------------------------------------------


def over_http(
    kind: str,
    url: str,
    sizes: Sizes,
    token: str,
    people: http.Cohort,
    result: Result,
    say: Callable[[str], None],
) -> None:
    tag = iter(range(10**6))

    def doses(n: int) -> list[dict[str, Any]]:
        return people.doses(n, f"t{next(tag)}")

    for workers in sizes.workers:
        with http.server(url, workers, 2) as (base, session):
            spec = {"base": base, "token": token, "method": "POST", "path": "/v1/doses"}
            http.load({**spec, "concurrency": 32, "bodies": doses(256)}, session)  # warm-up
            levels = sizes.concurrency if workers == 1 else (32,)
            for clients in levels:
                say(f"[{kind}] single doses over HTTP: {clients} clients, {workers} worker(s)")
                count = min(sizes.requests, 300 * clients)  # one client is slow: fewer requests
                runs = [
                    http.load({**spec, "concurrency": clients, "bodies": doses(count)}, session)
                    for _ in range(sizes.repeats)
                ]
                suffix = f"{clients}c_{workers}w"
                result.add(
                    f"http_dose_{suffix}",
                    f"single dose over HTTP, {clients} clients, {workers} worker(s)",
                    "doses/s",
                    [r["per_s"] for r in runs],
                    "baseline_single",
                )
                result.add(
                    f"http_dose_p50_{suffix}",
                    f"  p50, {clients} clients, {workers} worker(s)",
                    "ms",
                    [r["p50_ms"] for r in runs],
                )
                result.add(
                    f"http_dose_p99_{suffix}",
                    f"  p99, {clients} clients, {workers} worker(s)",
                    "ms",
                    [r["p99_ms"] for r in runs],
                )
                result.add(
                    f"http_dose_errors_{suffix}",
                    f"  non-201, {clients} clients, {workers} worker(s)",
                    "responses",
                    [sum(n for s, n in r["statuses"].items() if s != "201") for r in runs],
                )
            say(f"[{kind}] batches over HTTP: {sizes.batch_size} doses per request, {workers} worker(s)")
            runs = [
                http.load(
                    {
                        **spec,
                        "path": "/v1/doses/batch",
                        "concurrency": http.BATCH_CONCURRENCY,
                        "bodies": people.batches(sizes.batches, sizes.batch_size, f"b{next(tag)}"),
                    },
                    session,
                )
                for _ in range(sizes.repeats)
            ]
            result.add(
                f"http_batch_{workers}w",
                f"batch over HTTP ({sizes.batch_size}/request), {workers} worker(s)",
                "doses/s",
                [r["per_s"] * sizes.batch_size for r in runs],
                "baseline_batched",
            )
            lag_during_load(url, spec, session, doses(sizes.lag_requests), result, say, kind, workers)
            if workers == 1:
                say(f"[{kind}] certificate reads over HTTP")
                reads = [
                    {
                        **spec,
                        "method": "GET",
                        "concurrency": 32,
                        "bodies": [None] * sizes.reads,
                        "paths": [f"/v1/certificates/{person}" for person in people.take(sizes.reads)],
                    }
                    for run in range(sizes.repeats)
                ]
                runs = [http.load(spec_, session) for spec_ in reads]
                result.add(
                    "http_certificate",
                    "certificate reads over HTTP, 32 clients",
                    "requests/s",
                    [r["per_s"] for r in runs],
                )
                result.add("http_certificate_p99", "  p99", "ms", [r["p99_ms"] for r in runs])
                result.add(
                    "http_certificate_errors",
                    "  non-200",
                    "responses",
                    [sum(n for s, n in r["statuses"].items() if s != "200") for r in runs],
                )


def grown(kind: str, url: str, sizes: Sizes, token: str, result: Result, say: Callable[[str], None]) -> None:
    """Single doses (32 clients) and batches as the store stands, then again after filling it to
    each of `sizes.growth` events: each rate as a ratio to the first (within 10 % is the target).

    Each level doses people of its own, registered just before it, so that every level's people
    have the same history (their registration and first dose): what differs is the store's size
    alone, not the length of the streams each decision reads."""
    from usecases.application import DoseLedger

    levels: list[int | None] = [None, *sizes.growth]
    repeats, batches = sizes.growth_repeats, 2 * sizes.batches  # longer runs, more of them
    dosed = 256 + repeats * (sizes.requests + batches * sizes.batch_size)
    for n, target in enumerate(levels):
        with DoseLedger(env={"DOSELEDGER_DATABASE_URL": url}) as ledger:
            if target is not None:
                say(f"[{kind}] growth: filling the store to {target:,} events")
            stored = growth.fill(ledger, target) if target is not None else ledger.head()
        key = "start" if target is None else f"{target // 1000}k"
        say(f"[{kind}] growth: appends with {stored:,} events stored")
        people = http.register(url, max(sizes.people, dosed), first=(n + 1) * 10**7)
        with http.server(url, 1, 2) as (base, session):
            spec = {"base": base, "token": token, "method": "POST", "path": "/v1/doses"}
            prefix = f"g{n}"
            http.load(
                {**spec, "concurrency": 32, "bodies": people.doses(256, f"{prefix}w")}, session
            )  # warm-up
            single = [
                http.load(
                    {**spec, "concurrency": 32, "bodies": people.doses(sizes.requests, f"{prefix}-{r}")},
                    session,
                )
                for r in range(repeats)
            ]
            batch = [
                http.load(
                    {
                        **spec,
                        "path": "/v1/doses/batch",
                        "concurrency": http.BATCH_CONCURRENCY,
                        "bodies": people.batches(batches, sizes.batch_size, f"{prefix}b{r}"),
                    },
                    session,
                )
                for r in range(repeats)
            ]
        label = "as the growth runs start" if target is None else f"store filled to {target:,} events"
        result.add(
            f"growth_dose_{key}",
            f"growth: single dose over HTTP, 32 clients, {label}",
            "doses/s",
            [r["per_s"] for r in single],
            None if target is None else "growth_dose_start",
        )
        result.add(
            f"growth_batch_{key}",
            f"growth: batch over HTTP (1000/request), {label}",
            "doses/s",
            [r["per_s"] * sizes.batch_size for r in batch],
            None if target is None else "growth_batch_start",
        )
        result.add(f"growth_events_{key}", "  events stored", "events", [stored])


def lag_during_load(
    url: str,
    spec: dict[str, Any],
    session: int,
    bodies: list[dict[str, Any]],
    result: Result,
    say: Callable[[str], None],
    kind: str,
    workers: int = 1,
) -> None:
    """32 clients sending single doses while a `doseledger project` worker follows; the lag of
    the slowest view sampled four times a second. With 2 server workers the doses come at the
    rate the issue's lag target names (>= 1,200/s on PostgreSQL), if the machine reaches it."""
    from projections import open_views

    say(f"[{kind}] projections' lag while 32 clients send {len(bodies):,} single doses, {workers} worker(s)")
    worker = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--database-url", url, "project"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    views = open_views(url)
    samples: list[tuple[float, float, int]] = []
    try:
        caught_up = time.perf_counter()
        assert views.wait(views.ledger.head(), 600), views.status()
        catch_up_s = time.perf_counter() - caught_up
        sampling = threading.Event()
        sampling.set()
        started = time.perf_counter()

        def sample() -> None:
            while sampling.is_set():
                status = views.status()
                samples.append(
                    (
                        time.perf_counter() - started,
                        max(s["lag_seconds"] for s in status),
                        max(s["lag_events"] for s in status),
                    )
                )
                time.sleep(0.25)

        sampler = threading.Thread(target=sample)
        sampler.start()
        load = http.load({**spec, "concurrency": 32, "bodies": bodies}, session)
        sampling.clear()
        sampler.join()
    finally:
        views.close()
        worker.terminate()
        worker.wait(30)
    lags = sorted(s[1] for s in samples)
    key = "" if workers == 1 else f"_{workers}w"  # the 1-worker keys as earlier runs named them
    result.add(
        f"lag_load_rate{key}",
        f"single doses/s during the lag run (32 clients, {workers} worker(s), projector running)",
        "doses/s",
        [load["per_s"]],
        "baseline_single",
    )
    result.add(f"lag_p50{key}", "  projection lag p50 (slowest view)", "s", [lags[len(lags) // 2]])
    result.add(
        f"lag_p99{key}",
        "  projection lag p99 (slowest view)",
        "s",
        [lags[min(len(lags) - 1, int(len(lags) * 0.99))]],
    )
    since = "from cold" if workers == 1 else "from where the 1-worker lag run left the views"
    result.add(f"catch_up_s{key}", f"  projector catch-up before the run, {since}", "s", [catch_up_s])
    result.series[f"lag{key}"] = samples


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
    except Exception as error:  # the figures for SQLite stand without it
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
