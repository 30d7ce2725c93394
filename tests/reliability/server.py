"""The real server in a subprocess (`doseledger serve`) on a free loopback port, and its workers.

What the in-process TestClient cannot show: a process killed with SIGKILL, sockets closed
mid-request, client timeouts, uvicorn's own access log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from store.url import URL_KEY

ROOT = Path(__file__).resolve().parents[2]
DOSELEDGER = str(Path(sys.executable).with_name("doseledger"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, URL_KEY: url, "PYTHONUNBUFFERED": "1", **extra}
    return env


def doseledger(url: str, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """A `doseledger` command run as an operator runs it: its own process, the URL in the env."""
    return subprocess.run(
        [DOSELEDGER, *args],
        env=environment(url, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class PortTaken(RuntimeError):
    """The server could not bind its port."""


class Server:
    """`doseledger serve` on a free port; stdout and stderr (uvicorn's logs) go to `log_path`."""

    def __init__(
        self,
        url: str,
        log_path: Path,
        *,
        projections: str = "embedded",
        access_log: bool = False,
        port: int | None = None,
        **env: str,
    ) -> None:
        self.url, self.log_path = url, log_path
        self.chosen_port = port is not None
        self.projections, self.access_log = projections, access_log
        self.on_port(port or free_port())
        self.env = environment(url, **env)
        self.process: subprocess.Popen[Any] | None = None

    def on_port(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{self.port}"
        self.args = [DOSELEDGER, "serve", "--port", str(self.port), "--projections", self.projections]
        if self.access_log:
            self.args.append("--access-log")

    def start(self, timeout: float = 60) -> Server:
        # A port found free can be taken before the server binds it, by an outgoing connection's
        # ephemeral port: a server that was given no port then tries another.
        for attempt in range(3):
            try:
                return self._start(timeout)
            except PortTaken:
                if self.chosen_port or attempt == 2:
                    raise
                self.on_port(free_port())
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> Server:
        logged = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.args, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                told = f"the server exited {self.process.returncode}:\n{self.log()}"
                raise (
                    PortTaken(told)
                    if "address already in use" in self.log()[logged:].lower()
                    else RuntimeError(told)
                )
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer within {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as when the machine loses power."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
