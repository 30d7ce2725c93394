"""Many sites' sessions at once on one server: each site a kept-alive HTTP/1.1 connection sending
one single dose every 30-40 s (its own random pause), all of them held while a measured window
runs after the last has connected (the ramp is not counted).

The sessions connect first, gradually, and stay idle until the window opens (the memory per
connection is then the connections' alone); from then each sends at its steady rate.
One `doseledger serve` (the API alone, `--projections external`; several uvicorn workers, the
keep-alive timeout above the longest pause); the sessions spread over client processes
(bench.session_client), each from loopback source addresses of its own (127.0.0.2, 127.0.0.3, ...):
a process holds at most `ulimit -Hn` open files, and one (source, destination) pair has only
the ephemeral port range's ports. Each session is a site of its own with people of its own,
registered by it beforehand, so no person's stream grows long; the token is an admin's.

Reported: latency p50/p99 of the window's doses, doses/s beside the rate the sessions offer,
connections refused or dropped, non-201 answers, the server's memory per connection (the RSS of
its processes once every session connected, less before, per connection and per worker), the
ramp's time, and the CPU the server and the clients spent.

  .venv/bin/python -m bench.sessions [--sessions 42000] [--window 120] [--workers 3]
      [--clients 4] [--pause 30,40] [--connects-per-s 3000] [--store postgresql] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench import http

if TYPE_CHECKING:  # bench.figures names a run's Plan among its sizes
    from bench.figures import Result

# Each client process holds at most this many sessions: under the 20,000 open files a process
# may have, and under the ~28,000 ephemeral ports of one (source, destination) pair.
PER_CLIENT = 15_000
KEEP_ALIVE_SECONDS = 75  # above the longest pause: a session's connection outlives its wait
BACKLOG = 4096  # the kernel caps it at net.core.somaxconn
ALONE = 300  # doses sent by one client alone before the sessions: the latencies' baseline


@dataclass(frozen=True)
class Plan:
    sessions: int
    window_s: float
    pause: tuple[float, float]  # seconds between a session's doses, drawn uniformly
    workers: int = 3
    clients: int = 0  # 0: as few as PER_CLIENT allows, at least 2
    connects_per_s: float = 3000
    people_per_session: int = 1

    @classmethod
    def quick(cls) -> Plan:
        # Pauses beyond uvicorn's default keep-alive (5 s): the keep-alive setting is what holds them.
        return cls(sessions=300, window_s=15, pause=(6, 8))

    @classmethod
    def full(cls) -> Plan:
        # 4 workers: the kernel spreads accepted connections over them unevenly (one of 3 took 46 %
        # of 5,000), and each may hold 20,000 open files.
        return cls(sessions=42_000, window_s=120, pause=(30, 40), workers=4)

    def client_count(self) -> int:
        return self.clients or max(2, math.ceil(self.sessions / PER_CLIENT))

    @property
    def offered_per_s(self) -> float:
        return self.sessions / (sum(self.pause) / 2)


def site(n: int) -> str:
    return f"01-BENCH-{n:05d}"


def prepare(url: str, plan: Plan) -> tuple[str, list[list[str]]]:
    """An admin token and each session's people, each registered by the session's site (so the
    site is known before the sessions start)."""
    from ledger.values import Actor
    from usecases.principals import issue_token

    people: list[list[str]] = [[] for _ in range(plan.sessions)]
    total = plan.sessions * plan.people_per_session
    with http._ledger(url) as ledger:
        token, _ = issue_token(ledger, role="admin", actor={"principal_id": "bench", "role": "admin"})
        for start in range(0, total, 1000):
            items = []
            for k in range(start, min(start + 1000, total)):
                item = http.first_dose(k)
                item["site_id"] = site(k % plan.sessions)
                items.append(item)
            outcomes = ledger.record_doses(items, actor=Actor("bench", "admin"))
            for k, outcome in enumerate(outcomes, start):
                assert outcome.receipt is not None, outcome.error
                people[k % plan.sessions].append(str(outcome.receipt.person_id))
    return token, people


# --- the server's processes -----------------------------------------------------------------------


def listen_overflows() -> int:
    """Connections the kernel dropped at a full listen queue, since it started (the clients
    retry them a second or more later): TcpExt ListenOverflows and ListenDrops."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            counts = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return int(counts.get("ListenOverflows", 0)) + int(counts.get("ListenDrops", 0))
    return 0


def server_processes(session: int) -> dict[int, tuple[int, int]]:
    """Each live process of the server's session: its RSS (KiB) and its open files."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[3]) != session:
                    continue
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            found[int(pid)] = (rss, len(os.listdir(f"/proc/{pid}/fd")))
        except (OSError, StopIteration):
            continue
    return found


# --- one run --------------------------------------------------------------------------------------


def measure(url: str, plan: Plan, say: Callable[[str], None] = print) -> dict[str, Any]:
    say(
        f"sessions: registering {plan.sessions * plan.people_per_session:,} people at {plan.sessions:,} sites"
    )
    token, people = prepare(url, plan)
    settings = {"DOSELEDGER_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE_SECONDS), "DOSELEDGER_BACKLOG": str(BACKLOG)}
    with (
        http.server(url, plan.workers, 2, settings) as (base, session),
        tempfile.TemporaryDirectory(prefix="bench-sessions-") as folder,
    ):
        port = int(base.rsplit(":", 1)[1])
        warm = [
            http.dose(people[n % plan.sessions][0], f"warm-{n}", n) | {"site_id": site(n % plan.sessions)}
            for n in range(64 * plan.workers)
        ]
        spec = {"base": base, "token": token, "method": "POST", "path": "/v1/doses"}
        http.load({**spec, "concurrency": 8 * plan.workers, "bodies": warm}, session)  # every worker
        # The baseline, on the same server in the same minute: one client alone, one dose at a time.
        alone = http.load(
            {
                **spec,
                "concurrency": 1,
                "bodies": [
                    http.dose(people[n % plan.sessions][0], f"alone-{n}", n)
                    | {"site_id": site(n % plan.sessions)}
                    for n in range(ALONE)
                ],
            },
            session,
        )
        before, overflows = server_processes(session), listen_overflows()
        clients = start_clients(plan, port, token, people, folder)
        started = time.perf_counter()
        say(f"sessions: connecting {plan.sessions:,} over {len(clients)} client processes")
        ramps = [json.loads(read_line(c)) for c in clients]
        ramp_s = time.perf_counter() - started
        connected, overflows = server_processes(session), listen_overflows() - overflows
        window_from = time.time() + 0.5
        window = {"from": window_from, "until": window_from + plan.window_s}
        for client in clients:
            assert client.stdin is not None
            client.stdin.write(json.dumps(window) + "\n")
            client.stdin.flush()
        say(f"sessions: all connected in {ramp_s:.1f} s; measuring {plan.window_s:.0f} s")
        time.sleep(max(0.0, window_from - time.time()))
        server_cpu = http.session_cpu(session)
        time.sleep(max(0.0, window["until"] - time.time()))
        server_cpu = http.session_cpu(session) - server_cpu
        ended = server_processes(session)
        reports = []
        for client in clients:
            with open(json.loads(read_line(client))["written"]) as written:
                reports.append(json.load(written))
            client.wait(timeout=60)
    got = summary(plan, ramps, reports, before, connected, ended, ramp_s, server_cpu)
    got["alone_p50_ms"], got["alone_p99_ms"] = alone["p50_ms"], alone["p99_ms"]
    got["listen_overflows"] = overflows
    return got


def start_clients(
    plan: Plan, port: int, token: str, people: list[list[str]], folder: str
) -> list[subprocess.Popen[str]]:
    count = plan.client_count()
    clients = []
    for c in range(count):
        spec = {
            "host": "127.0.0.1",
            "port": port,
            "source": f"127.0.0.{2 + c}",  # a source address of its own: its own ephemeral ports
            "token": token,
            "pause": list(plan.pause),
            "connects_per_s": plan.connects_per_s / count,
            "sessions": [(site(n), people[n]) for n in range(c, plan.sessions, count)],
            "out": os.path.join(folder, f"client-{c}.json"),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.session_client"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdin is not None
        process.stdin.write(json.dumps(spec) + "\n")
        process.stdin.flush()
        clients.append(process)
    return clients


def read_line(client: subprocess.Popen[str]) -> str:
    assert client.stdout is not None
    line = client.stdout.readline()
    if not line:
        raise RuntimeError(f"a session client stopped (exit {client.wait()})")
    return line


def summary(
    plan: Plan,
    ramps: list[dict[str, Any]],
    reports: list[dict[str, Any]],
    before: dict[int, tuple[int, int]],
    connected: dict[int, tuple[int, int]],
    ended: dict[int, tuple[int, int]],
    ramp_s: float,
    server_cpu_s: float,
) -> dict[str, Any]:
    latencies = sorted(t for r in reports for t in r["latencies"])
    statuses: Counter[str] = Counter()
    for r in reports:
        statuses.update(r["statuses"])
    answered = len(latencies)
    held = sum(r["connected"] for r in ramps)
    # Per worker: the processes whose open files grew by the connections they took.
    workers = [
        {
            "pid": pid,
            "connections": connected[pid][1] - before[pid][1],
            "rss_before_kib": before[pid][0],
            "kib_per_connection": (connected[pid][0] - before[pid][0]) / (connected[pid][1] - before[pid][1]),
        }
        for pid in before
        if pid in connected and connected[pid][1] - before[pid][1] > 0
    ]
    rss = {
        name: sum(rss for rss, _ in taken.values())
        for name, taken in [("before", before), ("connected", connected), ("ended", ended)]
    }
    client_cpu_s = sum(r["window_cpu_s"] for r in reports)
    return {
        "sessions": plan.sessions,
        "connected": held,
        "refused": sum(r["refused"] for r in ramps),
        "dropped": sum(r["dropped"] for r in reports),
        "unanswered": sum(r["unanswered"] for r in reports),
        "non_201": sum(n for s, n in statuses.items() if s != "201"),
        "statuses": dict(statuses),
        "doses": answered,
        "doses_per_s": answered / plan.window_s,
        "offered_per_s": plan.offered_per_s,
        "p50_ms": 1000 * latencies[answered // 2] if latencies else math.nan,
        "p99_ms": 1000 * latencies[min(answered - 1, int(answered * 0.99))] if latencies else math.nan,
        "max_ms": 1000 * latencies[-1] if latencies else math.nan,
        "ramp_s": ramp_s,
        "server_rss_mib": {k: v / 1024 for k, v in rss.items()},
        "server_kib_per_connection": (rss["connected"] - rss["before"]) / max(1, held),
        "workers": workers,
        "server_cpu_per_dose_ms": 1000 * server_cpu_s / max(1, answered),
        "server_cores": server_cpu_s / plan.window_s,
        "client_cpu_per_dose_ms": 1000 * client_cpu_s / max(1, answered),
        "client_cores": client_cpu_s / plan.window_s,
        "client_ramp_cpu_s": sum(r["ramp_cpu_s"] for r in ramps),
        "client_peak_rss_mib": [r["peak_rss_kib"] / 1024 for r in reports],
        "clients": len(reports),
        "workers_count": plan.workers,
    }


# --- the bench's rows -----------------------------------------------------------------------------


def into(result: Result, kind: str, plan: Plan, say: Callable[[str], None]) -> None:
    """The run's rows: one run (it takes the machine), its doses/s beside the rate offered."""
    with http.store(kind) as url:
        got = measure(url, plan, lambda line: say(f"[{kind}] {line}"))
    n = f"{plan.sessions:,}"
    result.add(
        "sessions_offered",
        f"sessions: {n} sites' doses/s offered (one per 30-40 s)",
        "doses/s",
        [got["offered_per_s"]],
    )
    result.add(
        "sessions_doses",
        f"  {n} kept-alive sessions, doses answered",
        "doses/s",
        [got["doses_per_s"]],
        "sessions_offered",
    )
    result.add(
        "sessions_alone_p50", "  p50, one client alone on the same server before", "ms", [got["alone_p50_ms"]]
    )
    result.add(
        "sessions_alone_p99", "  p99, one client alone on the same server before", "ms", [got["alone_p99_ms"]]
    )
    result.add("sessions_p50", f"  p50, {n} sessions", "ms", [got["p50_ms"]], "sessions_alone_p50")
    result.add("sessions_p99", f"  p99, {n} sessions", "ms", [got["p99_ms"]], "sessions_alone_p99")
    result.add(
        "sessions_lost",
        f"  connections refused or dropped, {n} sessions",
        "connections",
        [got["refused"] + got["dropped"]],
    )
    result.add(
        "sessions_non_201",
        f"  non-201 or unanswered, {n} sessions",
        "responses",
        [got["non_201"] + got["unanswered"]],
    )
    result.add(
        "sessions_kib_per_connection",
        f"  server memory per connection, {plan.workers} workers",
        "KiB",
        [got["server_kib_per_connection"]],
    )
    result.add("sessions_ramp", f"  ramp: {n} sessions connected", "s", [got["ramp_s"]])
    result.add(
        "sessions_client_cores", "  the clients' CPU during the window", "cores", [got["client_cores"]]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="300 sessions, 6-8 s pauses, 15 s window")
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--window", type=float, help="seconds measured after every session connected")
    parser.add_argument("--pause", help="a session's pause between doses, low,high seconds")
    parser.add_argument("--workers", type=int)
    parser.add_argument(
        "--clients", type=int, help=f"client processes (default: {PER_CLIENT:,} sessions each, at least 2)"
    )
    parser.add_argument("--connects-per-s", type=float)
    parser.add_argument("--store", default="postgresql", choices=("postgresql", "sqlite"))
    parser.add_argument("--json", action="store_true", help="print the whole summary as JSON")
    args = parser.parse_args()
    plan = Plan.quick() if args.quick else Plan.full()
    given = {
        "sessions": args.sessions,
        "window_s": args.window,
        "pause": tuple(float(p) for p in args.pause.split(",")) if args.pause else None,
        "workers": args.workers,
        "clients": args.clients,
        "connects_per_s": args.connects_per_s,
    }
    plan = Plan(**{**plan.__dict__, **{k: v for k, v in given.items() if v is not None}})
    with http.store(args.store) as url:
        got = measure(url, plan, lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(got, indent=1))
        return
    print(report(got))


def report(got: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"sessions {got['connected']:,}/{got['sessions']:,} connected in {got['ramp_s']:.1f} s "
            f"({got['clients']} client processes, {got['workers_count']} workers)",
            f"doses/s {got['doses_per_s']:.0f} of {got['offered_per_s']:.0f} offered "
            f"({got['doses_per_s'] / got['offered_per_s']:.2f}); p50 {got['p50_ms']:.1f} ms, "
            f"p99 {got['p99_ms']:.1f} ms, max {got['max_ms']:.0f} ms; one client alone before: "
            f"p50 {got['alone_p50_ms']:.1f} ms, p99 {got['alone_p99_ms']:.1f} ms",
            f"refused {got['refused']}, dropped {got['dropped']}, non-201 {got['non_201']}, "
            f"unanswered {got['unanswered']}  {got['statuses']}; listen queue overflows in the ramp "
            f"{got['listen_overflows']}",
            f"server RSS MiB {json.dumps({k: round(v, 1) for k, v in got['server_rss_mib'].items()})}; "
            f"{got['server_kib_per_connection']:.1f} KiB per connection; per worker: "
            + ", ".join(
                f"{w['connections']:,} conn {w['kib_per_connection']:.1f} KiB" for w in got["workers"]
            ),
            f"server CPU {got['server_cores']:.2f} cores, {got['server_cpu_per_dose_ms']:.2f} ms/dose; "
            f"clients {got['client_cores']:.2f} cores, {got['client_cpu_per_dose_ms']:.2f} ms/dose, "
            f"ramp CPU {got['client_ramp_cpu_s']:.1f} s, peak RSS MiB "
            + ", ".join(f"{m:.0f}" for m in got["client_peak_rss_mib"]),
        ]
    )


if __name__ == "__main__":
    main()
