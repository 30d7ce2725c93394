"""One client process of bench.sessions: its share of the sites' sessions, each a kept-alive
HTTP/1.1 connection from its own loopback source address sending one single dose, then pausing.

Kept cheap, since it shares the machine with the server it measures: asyncio streams (on uvloop
when installed), one coroutine per session, each connected and then idle until the window opens, each request's bytes made from a head encoded once per session (the site
record's number is the only part that changes, fixed-width so the length does not).

The spec comes in on stdin (one JSON line); the process prints one JSON line when every session
has connected (or failed to), then reads the measured window's bounds (one JSON line: wall-clock
`from` and `until`), stops at its end, writes its figures to the spec's `out` file and says so.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import resource
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

RECORD_DIGITS = 6  # a session's site records, numbered: a million doses per session at most


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, requests started in the window
    statuses: Counter[int] = field(default_factory=Counter)  # in the window
    sent: int = 0  # every request, ramp and window
    refused: int = 0  # connections that could not be made
    dropped: int = 0  # connections the server closed or broke under a session
    unanswered: int = 0  # requests in flight when the window ended and still unanswered after
    connected: int = 0
    window: tuple[float, float] = (float("inf"), float("inf"))
    in_flight: int = 0


class Session:
    """One site's connection and the doses it sends, for its people in turn."""

    def __init__(self, spec: dict[str, Any], site: str, people: list[str]):
        self.site, self.people = site, people
        self.host, self.port, self.source = spec["host"], spec["port"], spec["source"]
        self.head = (
            f"POST /v1/doses HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {spec['token']}\r\nContent-Type: application/json\r\n"
        ).encode()
        self.count = 0

    def request(self) -> bytes:
        n = self.count
        self.count += 1
        person = self.people[n % len(self.people)]
        body = (
            f'{{"person_id":"{person}","site_id":"{self.site}","site_record_id":"s-{n:0{RECORD_DIGITS}d}",'
            f'"vaccine":"EU/1/20/1528","lot":"FA1234","administered_at":"2022-{1 + n // 28 % 12:02d}-'
            f'{1 + n % 28:02d}"}}'
        ).encode()
        return self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body


async def answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of one response, its body read; and whether the server said it will close."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    at = lowered.find(b"content-length:")
    length = int(lowered[at + 15 : lowered.index(b"\r\n", at)]) if at >= 0 else 0
    if length:
        await reader.readexactly(length)
    return status, b"connection: close" in lowered


async def connect(session: Session) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection from the session's source address: the socket made here, with no name
    look-ups (open_connection resolves both addresses on every call)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.bind((session.source, 0))
        await asyncio.get_running_loop().sock_connect(sock, (session.host, session.port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def run_session(
    session: Session,
    spec: dict[str, Any],
    tally: Tally,
    all_connected: asyncio.Event,
    window_open: asyncio.Event,
    total: int,
) -> None:
    try:
        reader, writer = await asyncio.wait_for(connect(session), 30)
    except (OSError, TimeoutError):
        tally.refused += 1
        if tally.connected + tally.refused == total:
            all_connected.set()
        return
    tally.connected += 1
    if tally.connected + tally.refused == total:
        all_connected.set()
    low, high = spec["pause"]
    rng = random.Random(session.site)
    try:
        # Idle until the window opens: the connections alone are what the ramp's memory measures.
        await window_open.wait()
        await asyncio.sleep(first_wait(rng, low, high))
        while time.time() < tally.window[1]:
            request = session.request()
            sent_at = time.time()
            started = time.perf_counter()
            tally.in_flight += 1
            writer.write(request)
            tally.sent += 1
            try:
                status, closing = await answer(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                tally.dropped += 1
                return
            finally:
                tally.in_flight -= 1
            if tally.window[0] <= sent_at < tally.window[1]:
                tally.latencies.append(time.perf_counter() - started)
                tally.statuses[status] += 1
            if closing:
                tally.dropped += 1
                return
            await asyncio.sleep(rng.uniform(low, high))
    finally:
        writer.close()


def first_wait(rng: random.Random, low: float, high: float) -> float:
    """A session's wait before its first dose, drawn so that the sessions together send at their
    steady rate from the start (the wait left of a pause caught at a random moment: uniform up to
    `low`, then falling to nought at `high`); uniform(0, high) would send fewer at first."""
    mean = (low + high) / 2
    if rng.random() < low / mean:
        return rng.uniform(0, low)
    return high - (high - low) * math.sqrt(rng.random())


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    tally = Tally()
    all_connected, window_open = asyncio.Event(), asyncio.Event()
    sessions = [Session(spec, site, people) for site, people in spec["sessions"]]
    started, cpu_started = time.perf_counter(), cpu_seconds()
    tasks = []
    step = 1 / spec["connects_per_s"]
    for n, session in enumerate(sessions):  # gradually: no SYN flood, no backlog overflow
        tasks.append(
            asyncio.create_task(run_session(session, spec, tally, all_connected, window_open, len(sessions)))
        )
        if n % 20 == 19:
            await asyncio.sleep(max(0.0, started + (n + 1) * step - time.perf_counter()))
    await all_connected.wait()
    print(
        json.dumps(
            {
                "connected": tally.connected,
                "refused": tally.refused,
                "ramp_s": time.perf_counter() - started,
                "ramp_cpu_s": cpu_seconds() - cpu_started,
            }
        ),
        flush=True,
    )
    window = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    tally.window = (window["from"], window["until"])
    await asyncio.sleep(max(0.0, window["from"] - time.time()))
    window_open.set()
    cpu_window = cpu_seconds()
    await asyncio.sleep(max(0.0, window["until"] - time.time()))
    cpu_window = cpu_seconds() - cpu_window
    # The requests sent before the end are answered (or counted unanswered); the sessions
    # pausing are ended where they stand.
    deadline = time.monotonic() + 30
    while tally.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    tally.unanswered = tally.in_flight
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "connected": tally.connected,
        "refused": tally.refused,
        "dropped": tally.dropped,
        "unanswered": tally.unanswered,
        "sent": tally.sent,
        "latencies": tally.latencies,
        "statuses": {str(s): n for s, n in tally.statuses.items()},
        "window_cpu_s": cpu_window,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def main() -> None:
    spec = json.loads(sys.stdin.readline())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # as many as this process may
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    figures = runner(drive(spec))
    # To a file: the latencies of thousands of sessions are megabytes, more than a pipe's line
    # was read whole here.
    with open(spec["out"], "w") as out:
        json.dump(figures, out)
    print(json.dumps({"written": spec["out"]}), flush=True)


if __name__ == "__main__":
    main()
