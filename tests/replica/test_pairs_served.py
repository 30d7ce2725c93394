"""10,000 write→read pairs against the API as it is deployed with a standby: never a stale read.

`doseledger serve --workers 2` (its own processes: writes to the primary, the views read from
the standby), `doseledger project` (its own process, on the primary) and client threads over
HTTP keep-alive connections. A pair is a single dose POSTed (201, its position) and the person's
certificate read at once with `min_position` of that position: it must hold the dose. A 503
(the standby not there within the read wait) is retried after its Retry-After and counted; only
a 200 ends a pair. In one Python process (the TestClient, the projector and the clients sharing
one GIL) the same run took over 7 minutes.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import psycopg
import pytest

from bench.http import server, session_cpu
from tests.api.conftest import CLI, dose, lan
from tests.replica.conftest import replay_paused, standby_caught_up
from usecases.application import DoseLedger
from usecases.principals import issue_token

PAIRS = 10_000
CLIENTS = 24
RETRIES = 30  # 503s in a row before a pair counts as failed (each waits its Retry-After)
# A standby that stops replaying makes every read wait then retry: the run gives up here rather
# than hang (the unfinished pairs then fail the test). A run takes 2.5-3 minutes on a 2-core
# machine shared with other work (load average ~15), ~150 s of CPU: about half that when idle.
RUN_SECONDS = 900


def stale(read: httpx.Response, dose_id: str) -> bool:
    """A 200 whose certificate lacks the dose the reader has just written."""
    return read.status_code == 200 and dose_id not in [d["dose_id"] for d in read.json()["doses"]]


@contextmanager
def projector(url: str) -> Iterator[int]:
    """`doseledger project` on the primary, in its own session (yielded, for `session_cpu`)."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--database-url", url, "project"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        time.sleep(0.5)
        if worker.poll() is not None:
            told = worker.stderr.read().decode() if worker.stderr else ""
            raise RuntimeError(f"the projector stopped: {told[-2000:]}")
        yield worker.pid
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def backends_cpu(url: str) -> float:
    """CPU seconds of the PostgreSQL backends now connected to the database of `url` (the
    servers' pools and the projector's connections; others' work on the server is left out)."""
    database = url.split("?")[0]
    with psycopg.connect(database, autocommit=True) as conn:
        pids = [
            r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Pairs:
    """The clients' tallies: pairs ended in a 200 holding the dose, stale reads, 503s retried,
    and failures (status and problem title only: no personal data)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []
        self.lock = threading.Lock()

    def count(self, what: str, failure: str | None = None) -> None:
        with self.lock:
            self.counts[what] += 1
            if failure is not None:
                self.failures.append(failure)

    def run(self, client: httpx.Client, n: int) -> None:
        person = lan(national_id=f"001185{n:06d}", phone=f"09{n:08d}")
        written = client.post("/v1/doses", json=dose(f"L{n}", person=person))
        if written.status_code != 201:
            self.count("write_failed", f"write {n}: {written.status_code} {written.text[:200]}")
            return
        w = written.json()
        read = read_back(client, w, lambda: self.count("retried_503"))
        if stale(read, w["dose_id"]):
            self.count("stale", f"read {n}: stale, position {w['position']}")
        elif read.status_code != 200:
            self.count("read_failed", f"read {n}: {read.status_code} {read.text[:200]}")
        else:
            self.count("read_back")


def read_back(
    client: httpx.Client, written: dict, retried: Callable[[], None] = lambda: None
) -> httpx.Response:
    """The certificate of a written dose's person, read with the dose's `min_position`; a 503
    (the standby not there within the read wait) read again after its Retry-After."""
    for _ in range(RETRIES):
        read = client.get(
            f"/v1/certificates/{written['person_id']}", params={"min_position": written["position"]}
        )
        if read.status_code != 503:
            break
        retried()
        time.sleep(float(read.headers.get("retry-after", "1")))
    return read


@pytest.mark.slow
def test_ten_thousand_writes_each_read_back_from_the_standby_are_never_stale(standby_url):
    write, read = standby_url
    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": write}) as ledger:
        token = issue_token(ledger, role="site", sites=["01-TYT-001"], actor=CLI)[0]
    settings = {"DOSELEDGER_READ_DATABASE_URL": read, "DOSELEDGER_READ_WAIT_SECONDS": "5"}
    with server(write, 2, 2, settings) as (base, session), projector(write) as projecting:
        standby_caught_up(write, read)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            # The check catches a stale read: replay paused, a read without min_position
            # answers the certificate as the standby holds it, without the new dose.
            written = client.post("/v1/doses", json=dose("C1", person=lan(national_id="001185999999")))
            assert written.status_code == 201, written.text
            first = written.json()
            # The projector may still be starting: the first read can outlast the read wait.
            seen = read_back(client, first)
            assert seen.status_code == 200 and not stale(seen, first["dose_id"]), seen.text
            with replay_paused(read):
                written = client.post(
                    "/v1/doses",
                    json=dose("C2", person_id=first["person_id"], administered_at="2021-09-01"),
                )
                assert written.status_code == 201, written.text
                second = written.json()
                unseen = client.get(f"/v1/certificates/{second['person_id']}")
                assert stale(unseen, second["dose_id"]), unseen.text

        pairs = Pairs()
        cpu = (own_cpu(), session_cpu(session), session_cpu(projecting))

        started = time.monotonic()

        def clients(worker: int) -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=60) as keep_alive:
                for n in range(worker, PAIRS, CLIENTS):
                    if time.monotonic() - started > RUN_SECONDS:
                        pairs.count("not_run")
                        continue
                    pairs.run(keep_alive, n)

        workers = [threading.Thread(target=clients, args=(w,)) for w in range(CLIENTS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - started
        spent = (own_cpu() - cpu[0], session_cpu(session) - cpu[1], session_cpu(projecting) - cpu[2])
        postgres = backends_cpu(write) + backends_cpu(read)
    counts = pairs.counts
    print(
        f"\n{PAIRS} pairs in {elapsed:.1f} s; CPU s: clients {spent[0]:.1f}, API {spent[1]:.1f}, "
        f"projector {spent[2]:.1f}, PostgreSQL backends (whole test) {postgres:.1f}; {dict(counts)}"
    )
    assert counts["stale"] == 0, f"{counts['stale']} stale of {PAIRS}: {pairs.failures[:5]}"
    assert pairs.failures == [], f"{len(pairs.failures)} failed of {PAIRS}: {pairs.failures[:5]}"
    assert counts["read_back"] == PAIRS, dict(counts)  # every pair, 503s retried, ended holding its dose
