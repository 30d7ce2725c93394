"""HTTP load on `doseledger serve`: single-dose requests/s with p50/p99 at 32 concurrent clients,
batch doses/s, and GET /healthz at the same concurrency as the baseline, on SQLite and
PostgreSQL, with 1 and 2 uvicorn workers.

The server runs in its own process (`doseledger serve --projections external`: the API alone,
no projector competing for the cores); the load comes from another process (aiohttp on asyncio)
over loopback; every run sends a bounded number of requests; figures are medians of --runs.

  ./run bench --help                       # installs the dev set: aiohttp, for the load generator
  .venv/bin/python -m bench.http [--stores sqlite,postgresql] [--workers 1,2] [--runs 3]
      [--requests 2000] [--batches 12] [--batch-size 500] [--group-commit-ms 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

ADMIN_URL = os.environ.get("DOSELEDGER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
SITE = "01-TYT-001"
# People are dosed in turn (`Cohort`): a full run's ~70,000 doses before the growth runs leave
# 20,000 people near four doses each, as in a campaign (two primary doses, boosters).
PEOPLE = 20_000
CONCURRENCY = 32
BATCH_CONCURRENCY = 4


# --- the load generator (its own process) -------------------------------------------------------


async def drive(
    base: str,
    token: str,
    method: str,
    path: str,
    bodies: list[bytes | None],
    concurrency: int,
    paths: list[str] | None = None,
) -> dict[str, Any]:
    # aiohttp rather than httpx: on this 2-core machine httpx's client spent more CPU per
    # request (about 4 ms) than the server did, so it measured itself.
    import aiohttp

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        base, headers=headers, connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:
        pending = zip(paths or [path] * len(bodies), bodies, strict=True)

        async def client_loop() -> None:
            for target, body in pending:  # one shared iterator: each body is sent once
                started = time.perf_counter()
                async with session.request(method, target, data=body) as response:
                    await response.read()
                latencies.append(time.perf_counter() - started)
                statuses[response.status] += 1

        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(bodies),
        "seconds": elapsed,
        "per_s": len(bodies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "statuses": dict(statuses),
    }


def load_main(spec: dict[str, Any]) -> None:
    import aiohttp  # noqa: F401 - imported before the CPU count starts
    import orjson

    usage = resource.getrusage(resource.RUSAGE_SELF)
    spec["started_cpu_s"] = usage.ru_utime + usage.ru_stime  # leave out start-up and imports

    bodies = [None if b is None else orjson.dumps(b) for b in spec["bodies"]]
    result = asyncio.run(
        drive(
            spec["base"],
            spec["token"],
            spec["method"],
            spec["path"],
            bodies,
            spec["concurrency"],
            spec.get("paths"),
        )
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["client_cpu_s"] = usage.ru_utime + usage.ru_stime - spec["started_cpu_s"]
    print(json.dumps(result))


def load(spec: dict[str, Any], server_session: int) -> dict[str, Any]:
    """Run the load generator in a fresh process (the spec goes in on stdin), and count the CPU
    time the server's processes spent meanwhile: on a shared machine, CPU per request is the
    steadier figure."""
    before = session_cpu(server_session)
    done = subprocess.run(
        [sys.executable, "-m", "bench.http", "--load"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    result["server_cpu_s"] = session_cpu(server_session) - before
    return result


def session_cpu(session: int) -> float:
    """User and system CPU seconds of the live processes of a session (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


# --- stores and servers -------------------------------------------------------------------------


@contextmanager
def store(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="doseledger-bench-") as folder:
            yield f"sqlite:///{folder}/ledger.db"
        return
    import psycopg

    name = f"doseledger_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(url: str, people: int = PEOPLE) -> tuple[str, Cohort]:
    """A site token and people to dose, written in-process before the server starts."""
    from usecases.principals import issue_token

    with _ledger(url) as ledger:
        token, _ = issue_token(
            ledger, role="site", sites=[SITE], actor={"principal_id": "bench", "role": "admin"}
        )
    return token, register(url, people)


def register(url: str, people: int, first: int = 0) -> Cohort:
    """People numbered from `first`, each registered by the site that gave their first dose (an
    inline person, 1,000 per batch)."""
    from ledger.values import Actor

    actor = Actor("bench", "admin")
    ids: list[str] = []
    with _ledger(url) as ledger:
        for start in range(first, first + people, 1000):
            items = [first_dose(k) for k in range(start, min(start + 1000, first + people))]
            outcomes = ledger.record_doses(items, actor=actor)
            assert all(o.receipt is not None for o in outcomes), [o.error for o in outcomes if o.error]
            ids.extend(str(o.receipt.person_id) for o in outcomes if o.receipt)
    return Cohort(ids)


def _ledger(url: str) -> Any:
    from usecases.application import DoseLedger

    return DoseLedger(env={"DOSELEDGER_DATABASE_URL": url})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server(
    url: str, workers: int, group_commit_ms: float, settings: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """`doseledger serve` (the API alone: the projections run elsewhere) on a free port, with
    further `settings` as environment variables (e.g. the read URL of a standby); yields its
    base URL and its session (for `session_cpu`)."""
    port = free_port()
    env = {
        **os.environ,
        "DOSELEDGER_DATABASE_URL": url,
        "DOSELEDGER_GROUP_COMMIT_MS": str(group_commit_ms),
        **(settings or {}),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--projections",
            "external",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base, process.pid  # its own session, led by it
    finally:
        os.killpg(process.pid, signal.SIGINT)  # its own session: the server and its workers
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            told = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"the server stopped: {told[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not come up within 60 s")


# --- one configuration ----------------------------------------------------------------------------


def dose(person: str, record: str, day: int) -> dict[str, Any]:
    return {
        "person_id": person,
        "site_id": SITE,
        "site_record_id": record,
        "vaccine": "EU/1/20/1528",
        "lot": "FA1234",
        "administered_at": f"2021-{7 + day % 5:02d}-{1 + day % 28:02d}",
    }


def first_dose(k: int) -> dict[str, Any]:
    """A dose that registers its person (named inline, no id yet)."""
    fields = dose("", f"first-{k}", k)
    del fields["person_id"]
    return {**fields, "person": {"full_name": f"Người thứ {k}", "birth_date": "1980-01-01", "province": "01"}}


class Cohort:
    """People to dose, each run taking the next ones in turn.

    Every run then doses people with about as many doses behind them as the run before did,
    and a person's stream grows by one dose per pass over the cohort. Taken from the start of
    the list each time (the first bench runs), the first 2,000 people had 15 and more events by
    the later runs: each decision re-read them all, and the later runs measured stream length
    rather than what they were meant to. Consecutive takes name different people, as batches
    from different sites do (otherwise batches in flight collide and are retried one by one).
    """

    def __init__(self, ids: list[str]):
        self.ids = ids
        self._at = 0

    def take(self, n: int) -> list[str]:
        taken = [self.ids[(self._at + k) % len(self.ids)] for k in range(n)]
        self._at = (self._at + n) % len(self.ids)
        return taken

    def doses(self, n: int, prefix: str) -> list[dict[str, Any]]:
        """n single doses for the next n people, their site records `{prefix}-{i}`."""
        return [dose(person, f"{prefix}-{i}", i) for i, person in enumerate(self.take(n))]

    def batches(self, count: int, size: int, prefix: str) -> list[dict[str, Any]]:
        return [{"doses": self.doses(size, f"{prefix}-{b}")} for b in range(count)]


@dataclass
class Figures:
    healthz_per_s: float
    dose_per_s: float
    dose_p50_ms: float
    dose_p99_ms: float
    dose_server_cpu_ms: float  # server CPU per single-dose request
    dose_client_cpu_ms: float  # load generator CPU per request
    batch_doses_per_s: float
    batch_server_cpu_ms: float  # server CPU per dose sent in batches
    errors: int


def measure(
    kind: str, workers: int, runs: int, requests: int, batches: int, batch_size: int, group_commit_ms: float
) -> tuple[Figures, list[Figures]]:
    every = []
    with store(kind) as url:
        token, people = prepare(url)
        with server(url, workers, group_commit_ms) as (base, session):
            spec = {"base": base, "token": token, "concurrency": CONCURRENCY}
            load(
                {
                    **spec,
                    "method": "POST",
                    "path": "/v1/doses",  # warm-up: caches, pools, workers
                    "bodies": people.doses(256, "warm"),
                },
                session,
            )
            for run in range(runs):
                health = load(
                    {**spec, "method": "GET", "path": "/healthz", "bodies": [None] * requests}, session
                )
                single = load(
                    {
                        **spec,
                        "method": "POST",
                        "path": "/v1/doses",
                        "bodies": people.doses(requests, f"r{run}"),
                    },
                    session,
                )
                batch = load(
                    {
                        **spec,
                        "method": "POST",
                        "path": "/v1/doses/batch",
                        "concurrency": BATCH_CONCURRENCY,
                        "bodies": people.batches(batches, batch_size, f"b{run}"),
                    },
                    session,
                )
                every.append(
                    Figures(
                        health["per_s"],
                        single["per_s"],
                        single["p50_ms"],
                        single["p99_ms"],
                        1000 * single["server_cpu_s"] / requests,
                        1000 * single["client_cpu_s"] / requests,
                        batch["per_s"] * batch_size,
                        1000 * batch["server_cpu_s"] / (batches * batch_size),
                        sum(n for s, n in single["statuses"].items() if s != "201")
                        + sum(n for s, n in batch["statuses"].items() if s != "200"),
                    )
                )
    median = Figures(
        *(statistics.median(getattr(f, name) for f in every) for name in Figures.__dataclass_fields__)
    )
    return median, every


def main() -> None:
    if "--load" in sys.argv:
        load_main(json.loads(sys.stdin.read()))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--group-commit-ms", type=float, default=2)
    args = parser.parse_args()
    print(
        f"cores: {os.cpu_count()}  clients: {CONCURRENCY} (batches: {BATCH_CONCURRENCY} x "
        f"{args.batch_size})  requests per run: {args.requests}  runs: {args.runs}  "
        f"group commit: {args.group_commit_ms} ms"
    )
    print(
        "| store | workers | /healthz req/s | dose req/s | p50 ms | p99 ms | dose/healthz | "
        "server CPU ms/dose | client CPU ms/req | batch doses/s | server CPU ms/batched dose | non-2xx |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in args.stores.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            m, every = measure(
                kind, workers, args.runs, args.requests, args.batches, args.batch_size, args.group_commit_ms
            )
            print(
                f"| {kind} | {workers} | {m.healthz_per_s:.0f} | {m.dose_per_s:.0f} | "
                f"{m.dose_p50_ms:.1f} | {m.dose_p99_ms:.1f} | {m.dose_per_s / m.healthz_per_s:.2f} | "
                f"{m.dose_server_cpu_ms:.2f} | {m.dose_client_cpu_ms:.2f} | {m.batch_doses_per_s:.0f} | "
                f"{m.batch_server_cpu_ms:.3f} | {m.errors:.0f} |",
                flush=True,
            )
            print(
                "  runs: "
                + "; ".join(
                    f"{f.dose_per_s:.0f} req/s p50 {f.dose_p50_ms:.1f} "
                    f"p99 {f.dose_p99_ms:.1f} batch {f.batch_doses_per_s:.0f}"
                    for f in every
                ),
                file=sys.stderr,
                flush=True,
            )


if __name__ == "__main__":
    main()
