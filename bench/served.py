"""The runs against a served API: single doses at each concurrency, batches, certificate
reads, the projections' lag during a load run, and the growth runs on a filled store."""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from bench import growth, http
from bench.figures import Result, Sizes

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


def grown(
    kind: str,
    url: str,
    sizes: Sizes,
    token: str,
    result: Result,
    say: Callable[[str], None],
    measuring: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> None:
    """Single doses (32 clients) and batches on a store kept at the starting size and on this
    store filled to each of `sizes.growth` events, interleaved: start, 1 M, start, 5 M, start.
    Each grown level's rate is a ratio to the mean of the start measurements either side of it
    (within 10 % is the target); the start measurements' spread is what the run drifted.

    Each measurement doses people of its own, registered just before it, so that every level's
    people have the same history (their registration and first dose): what differs is the
    store's size alone, not the length of the streams each decision reads. `measuring` is held
    around each measurement alone (the server and its load), not the fillings and registrations:
    on a shared machine, a lock that keeps other measurements out meanwhile."""
    from usecases.application import DoseLedger

    measured: list[tuple[int | None, dict[str, list[float]], int]] = []
    with growth.copy_of(url) as template:  # the store as the growth runs start, kept aside
        for n, target in enumerate(growth.interleaved(sizes.growth)):
            if target is None:
                with growth.copy_of(template) as fresh:  # afresh: the last measurement's doses gone
                    measured.append((target, *appends_at(kind, fresh, sizes, token, n, say, measuring)))
                continue
            with DoseLedger(env={"DOSELEDGER_DATABASE_URL": url}) as ledger:
                say(f"[{kind}] growth: filling the store to {target:,} events")
                growth.fill(ledger, target)
            measured.append((target, *appends_at(kind, url, sizes, token, n, say, measuring)))
    growth_rows(measured, result)


def growth_rows(measured: list[tuple[int | None, dict[str, list[float]], int]], result: Result) -> None:
    """The rows of the interleaved growth runs (`measured` in their order, None the start store)."""
    titles = {"dose": "single dose over HTTP, 32 clients", "batch": "batch over HTTP (1000/request)"}
    starts = [(at, runs) for at, (target, runs, _) in enumerate(measured) if target is None]
    for what, title in titles.items():
        medians = [statistics.median(runs[what]) for _, runs in starts]
        for k, (_, runs) in enumerate(starts, 1):
            result.add(
                f"growth_{what}_start{k}",
                f"growth: {title}, start store, measurement {k}",
                "doses/s",
                runs[what],
            )
        # Each start measurement's median: min-max is the drift over the run.
        result.add(
            f"growth_{what}_start",
            f"growth: {title}, start store (each measurement's median)",
            "doses/s",
            medians,
        )
        result.add(
            f"growth_{what}_start_spread",
            "  the start store's spread (highest / lowest median)",
            "×",
            [max(medians) / min(medians)],
        )
        for at, (target, runs, _) in enumerate(measured):
            if target is None:
                continue
            key = f"{target // 1000}k"
            around = [statistics.median(r[what]) for s, r in starts if abs(s - at) == 1]
            result.add(
                f"growth_{what}_around_{key}",
                f"  start store either side of {target:,} events (mean of their medians)",
                "doses/s",
                around,  # the median of two is their mean
            )
            result.add(
                f"growth_{what}_{key}",
                f"growth: {title}, store filled to {target:,} events",
                "doses/s",
                runs[what],
                f"growth_{what}_around_{key}",
            )
    result.add(
        "growth_events_start",
        "  events stored, start store (each measurement)",
        "events",
        [e for t, _, e in measured if t is None],
    )
    for target, _, stored in measured:
        if target is not None:
            result.add(f"growth_events_{target // 1000}k", "  events stored", "events", [stored])


def appends_at(
    kind: str,
    url: str,
    sizes: Sizes,
    token: str,
    n: int,
    say: Callable[[str], None],
    measuring: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> tuple[dict[str, list[float]], int]:
    """Single doses and batches on the store at `url` as it stands, for people registered
    just before (numbered from (n + 1) * 10^7): their rates and the events stored before."""
    from usecases.application import DoseLedger

    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": url}) as ledger:
        stored = ledger.head()
    say(f"[{kind}] growth: appends with {stored:,} events stored")
    repeats, batches = sizes.growth_repeats, 2 * sizes.batches  # longer runs, more of them
    dosed = 256 + repeats * (sizes.requests + batches * sizes.batch_size)
    people = http.register(url, max(sizes.people, dosed), first=(n + 1) * 10**7)
    with measuring(), http.server(url, 1, 2) as (base, session):
        spec = {"base": base, "token": token, "method": "POST", "path": "/v1/doses"}
        prefix = f"g{n}"
        http.load({**spec, "concurrency": 32, "bodies": people.doses(256, f"{prefix}w")}, session)  # warm-up
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
    rates = {"dose": [r["per_s"] for r in single], "batch": [r["per_s"] * sizes.batch_size for r in batch]}
    say(f"[{kind}] growth: {stored:,} events: " + "; ".join(f"{k} {v}" for k, v in rates.items()))
    return rates, stored


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
    rate the issue's lag target names (>= 1,200/s on PostgreSQL), if the machine reaches it.

    Beside the lag, the CPU the projector spent during the load run: its share of a core, and
    its seconds per 1,000 events stored meanwhile, as a ratio to the server's for the same
    events (the projector and the server share the machine's cores: what the projector takes,
    the server's rate loses)."""
    from projections import open_views

    say(f"[{kind}] projections' lag while 32 clients send {len(bodies):,} single doses, {workers} worker(s)")
    worker = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--database-url", url, "project"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own session, for its CPU (http.session_cpu)
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
        stored, projector_cpu = views.ledger.recorder.count_notifications(), http.session_cpu(worker.pid)
        sampler.start()
        load = http.load({**spec, "concurrency": 32, "bodies": bodies}, session)
        projector_cpu = http.session_cpu(worker.pid) - projector_cpu
        stored = views.ledger.recorder.count_notifications() - stored
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
    result.add(
        f"lag_projector_share{key}",
        "  projector CPU during the run (share of one core)",
        "cores",
        [projector_cpu / load["seconds"]],
    )
    result.add(
        f"lag_server_cpu{key}",
        "  server CPU per 1,000 events stored during the run",
        "s",
        [1000 * load["server_cpu_s"] / stored],
    )
    result.add(
        f"lag_projector_cpu{key}",
        "  projector CPU per 1,000 events stored during the run (ratio: to the server's)",
        "s",
        [1000 * projector_cpu / stored],
        f"lag_server_cpu{key}",
    )
    since = "from cold" if workers == 1 else "from where the 1-worker lag run left the views"
    result.add(f"catch_up_s{key}", f"  projector catch-up before the run, {since}", "s", [catch_up_s])
    result.series[f"lag{key}"] = samples
