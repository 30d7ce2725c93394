"""The failover drill: the primary fails under load, a standby takes over, nothing is lost.

A primary and a standby of the drill's own (drills.pair, or drills.patroni for Patroni's), the
ledger served on them (`doseledger serve`, projections embedded) with libpq's multi-host URL,
`clients` threads sending single doses over HTTP. The primary is stopped at once
(`-m immediate`), the standby takes over (promoted by hand, or by Patroni), and the clients go
on. Then:

- the time from the stop to the first dose acknowledged (2xx) that was sent after it;
- every acknowledged dose looked up in the promoted store: the doses lost (0 when the standby
  is synchronous; a number with asynchronous replication);
- the views: the server's projector, never restarted or rebuilt, reaches the new head;
- `replay verify --all` and `reconcile` run on the promoted store, as an operator runs them.

Finally the clusters are torn down with their slots.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from store.url import URL_KEY
from usecases.application import DoseLedger
from usecases.principals import issue_token

SITE = "01-DRILL-001"
VACCINE = "EU/1/20/1528"
ACTOR = {"principal_id": "failover drill", "role": "admin"}
DOSELEDGER = str(Path(sys.executable).with_name("doseledger"))


class Topology(Protocol):
    """Where the drill's ledger lives, and how its primary fails and is replaced."""

    @property
    def url(self) -> str:
        """libpq's multi-host URL of every member."""

    @property
    def mode(self) -> str:
        """ "synchronous", "asynchronous" or "patroni"."""

    def stop_primary(self) -> None:
        """The primary's processes quit at once."""

    def take_over(self) -> None:
        """A standby becomes the primary (by hand; Patroni's waits for its own)."""

    def remove(self) -> list[str]:
        """Every cluster (and slot, and helper process) gone; what was removed."""


@dataclass
class Report:
    mode: str
    clients: int
    acknowledged: int = 0
    acknowledged_after_stop: int = 0
    lost: int = 0
    lost_records: list[str] = field(default_factory=list)
    stop_to_takeover_s: float = 0.0
    stop_to_first_write_s: float | None = None
    views_caught_up_s: float | None = None
    views_at: dict[str, Any] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    verify_exit: int | None = None
    verify_output: str = ""
    reconcile_exit: int | None = None
    reconcile_output: str = ""
    removed: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (
            self.lost == 0
            and not self.unexpected
            and self.stop_to_first_write_s is not None
            and self.views_caught_up_s is not None
            and self.verify_exit == 0
            and self.reconcile_exit == 0
        )

    def lines(self) -> list[str]:
        first = "none" if self.stop_to_first_write_s is None else f"{self.stop_to_first_write_s:.2f} s"
        views = "not caught up" if self.views_caught_up_s is None else f"{self.views_caught_up_s:.2f} s"
        return [
            f"failover drill ({self.mode}, {self.clients} clients sending single doses)",
            f"  stop to takeover:              {self.stop_to_takeover_s:.2f} s",
            f"  stop to first write:           {first}",
            f"  doses acknowledged:            {self.acknowledged} ({self.acknowledged_after_stop} after the stop)",
            f"  acknowledged doses lost:       {self.lost}"
            + (
                f" ({', '.join(self.lost_records[:10])}{' ...' if self.lost > 10 else ''})"
                if self.lost
                else ""
            ),
            f"  answers:                       {dict(sorted(self.answers.items()))}",
            f"  views at the new head after:   {views} (the running projector, no rebuild)",
            f"  replay verify --all:           exit {self.verify_exit}",
            f"  reconcile:                     exit {self.reconcile_exit}",
            *(f"  unexpected: {line}" for line in self.unexpected[:10]),
            f"  removed:                       {', '.join(self.removed) or 'nothing'}",
        ]


class Clients:
    """`count` threads, each sending single doses for a person of its own, one after another;
    a dose answered 503 or cut off is sent again (its site record makes a resend a duplicate)."""

    def __init__(self, base: str, token: str, people: list[str]):
        self.base, self.token, self.people = base, token, people
        self.answers: Counter[str] = Counter()
        self.acknowledged: list[tuple[str, float, float]] = []  # (site record, sent, answered)
        self.unexpected: list[str] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._send, args=(i,), daemon=True) for i in range(len(people))
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(60)

    def acknowledged_since(self, moment: float) -> list[tuple[str, float, float]]:
        with self._lock:
            return [a for a in self.acknowledged if a[1] >= moment]

    def _send(self, index: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=30) as http:
            n = 0
            while not self.stopping.is_set():
                record = f"DRILL-{index}-{n}"
                body = {
                    "site_id": SITE,
                    "site_record_id": record,
                    "person_id": self.people[index],
                    "vaccine": VACCINE,
                    "administered_at": "2021-08-01",
                }
                sent = time.monotonic()
                try:
                    status = str(http.post("/v1/doses", json=body).status_code)
                    text = ""
                except httpx.TransportError as error:
                    status, text = type(error).__name__, str(error)
                answered = time.monotonic()
                with self._lock:
                    self.answers[status] += 1
                    if status in ("200", "201"):
                        self.acknowledged.append((record, sent, answered))
                    elif status != "503":
                        self.unexpected.append(f"{record}: {status} {text}"[:300])
                if status in ("200", "201"):
                    n += 1
                else:
                    time.sleep(0.05)  # the same record again


def stored_records(url: str, env: dict[str, str]) -> set[str]:
    """The site records of the drill's doses in the store the URL finds (its primary)."""
    records: set[str] = set()
    with DoseLedger(env={**env, URL_KEY: url}) as ledger:
        start = 1
        while True:
            page = ledger.recorder.select_notifications(start, 5000)
            for notification in page:
                if notification.topic.endswith("DoseRecorded"):
                    source = json.loads(bytes(notification.state)).get("source") or {}
                    if source.get("site_id") == SITE:
                        records.add(source["site_record_id"])
            if len(page) < 5000:
                return records
            start = page[-1].id + 1


def _command(env: dict[str, str], *args: str, timeout: float = 300) -> tuple[int, str]:
    done = subprocess.run([DOSELEDGER, *args], env=env, capture_output=True, text=True, timeout=timeout)
    return done.returncode, (done.stdout + done.stderr).strip()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """`doseledger serve` (projections embedded) on the topology's URL, in a process of its own."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [DOSELEDGER, "serve", "--port", str(self.port), "--projections", "embedded"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited {self.process.returncode}: see {self.log}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s: see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def views_at_head(base: str, token: str, timeout: float) -> tuple[float | None, dict[str, Any]]:
    """Seconds until every projection the server runs is at the store's head (None: not within
    `timeout`), and their status then."""
    started = time.monotonic()
    status: dict[str, Any] = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        while time.monotonic() - started < timeout:
            try:
                response = http.get("/v1/projections")
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 200:
                views = response.json()["projections"]
                status = {v["name"]: {k: v[k] for k in ("position", "head", "state")} for v in views}
                if views and all(v["head"] and v["position"] == v["head"] for v in views):
                    return time.monotonic() - started, status
            time.sleep(0.25)
    return None, status


def drill(
    topology: Topology,
    *,
    clients: int = 32,
    before: float = 3.0,
    after: float = 3.0,
    say: Callable[[str], None] = print,
    keep_going_for: float = 120.0,
) -> Report:
    """Run the drill on a topology that is up; the topology is removed at the end, whatever happens."""
    report = Report(mode=topology.mode, clients=clients)
    work = Path(tempfile.mkdtemp(prefix="doseledger-drill-"))
    env = {
        **os.environ,
        URL_KEY: topology.url,
        # The drill's store has secrets and anchors of its own, never the operator's.
        "DOSELEDGER_SECRETS_DIR": str(work / "secrets"),
        "DOSELEDGER_ANCHOR_DIR": str(work / "anchors"),
        "PYTHONUNBUFFERED": "1",
    }
    served = Served(env, work / "server.log")
    try:
        with DoseLedger(env={**env}) as ledger:
            token, _ = issue_token(ledger, role="site", sites=[SITE], actor=ACTOR)
            auditor, _ = issue_token(ledger, role="auditor", actor=ACTOR)
            people = [
                str(
                    ledger.register_person(
                        {"full_name": f"Drill Person {i}", "birth_date": "1990-01-01", "province": "01"}
                    ).person_id
                )
                for i in range(clients)
            ]
        say(f"serving the ledger on {topology.url.split('@', 1)[1]}")
        served.start()
        sending = Clients(served.base, token, people)
        sending.start()
        time.sleep(before)
        say(f"{len(sending.acknowledged)} doses acknowledged; stopping the primary at once")
        # From the moment the primary is surely down: a dose sent after it cannot reach it.
        topology.stop_primary()
        stopped = time.monotonic()
        topology.take_over()
        report.stop_to_takeover_s = time.monotonic() - stopped
        say(f"took over after {report.stop_to_takeover_s:.2f} s; waiting for the first write")
        deadline = time.monotonic() + keep_going_for
        while not sending.acknowledged_since(stopped) and time.monotonic() < deadline:
            time.sleep(0.05)
        since = sending.acknowledged_since(stopped)
        if since:
            report.stop_to_first_write_s = min(answered for _, _, answered in since) - stopped
            time.sleep(after)
        sending.stop()
        report.answers = dict(sending.answers)
        report.unexpected = sending.unexpected
        acknowledged = {record for record, _, _ in sending.acknowledged}
        report.acknowledged = len(acknowledged)
        report.acknowledged_after_stop = len({record for record, _, _ in sending.acknowledged_since(stopped)})
        say("looking up every acknowledged dose in the promoted store")
        lost = acknowledged - stored_records(topology.url, env)
        report.lost, report.lost_records = len(lost), sorted(lost)
        report.views_caught_up_s, report.views_at = views_at_head(served.base, auditor, timeout=90)
        say("replay verify --all, then reconcile")
        report.verify_exit, report.verify_output = _command(env, "replay", "verify", "--all")
        report.reconcile_exit, report.reconcile_output = _command(env, "reconcile", "--timeout", "60")
    finally:
        served.stop()
        report.removed = topology.remove()
    return report
