"""Two Patroni members and an etcd of the drill's own: the automatic failover.

Debian's `patroni` and `etcd-server` packages (apt-get install -y patroni etcd-server). etcd runs
on free ports with its data in a temporary folder; each member is a Patroni process (as the
postgres user) managing a PostgreSQL in a temporary folder, on the ports given. The first member
bootstraps the cluster and leads; the second is copied from it and streams. Synchronous mode
(Patroni's `synchronous_mode: true`): a commit waits for the standby, and Patroni promotes only
a standby that was synchronous.

The primary's failure is its whole node going: its Patroni process killed (SIGKILL), then its
PostgreSQL stopped at once, so nothing is left to restart it or to hold the leader key. The
leader key expires after `ttl` seconds; the standby's Patroni then promotes it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from drills.pair import _as_postgres, debian_version, port_is_free

TTL = 20  # seconds the leader key lives without its holder (Patroni's lowest accepted)
LOOP_WAIT = 2  # seconds between each member's checks


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(name: str, scope: str, port: int, rest: int, etcd: int, folder: Path, version: str) -> str:
    return f"""scope: {scope}
name: {name}
restapi:
  listen: 127.0.0.1:{rest}
  connect_address: 127.0.0.1:{rest}
etcd3:
  hosts: 127.0.0.1:{etcd}
bootstrap:
  dcs:
    ttl: {TTL}
    loop_wait: {LOOP_WAIT}
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: false
      parameters:
        max_connections: 150
        wal_level: replica
        hot_standby: "on"
  initdb:
    - encoding: UTF8
    - auth: trust
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:{port}
  connect_address: 127.0.0.1:{port}
  data_dir: {folder / name / "data"}
  bin_dir: /usr/lib/postgresql/{version}/bin
  pgpass: {folder / name / "pgpass"}
  authentication:
    superuser:
      username: postgres
    replication:
      username: postgres
  parameters:
    unix_socket_directories: {folder / name}
"""


class PatroniPair:
    """etcd, and two Patroni members on `ports`; the first leads."""

    @property
    def mode(self) -> str:
        return "patroni"

    def __init__(self, scope: str, ports: tuple[int, int]):
        self.scope, self.ports = scope, ports
        self.version = debian_version()
        self.folder = Path(tempfile.mkdtemp(prefix=f"doseledger-{scope}-"))
        self.etcd_port, self.etcd_peer = _free_port(), _free_port()
        self.rest = (_free_port(), _free_port())
        self.names = (f"{scope}-a", f"{scope}-b")
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.leader = 0

    @classmethod
    def named(cls, prefix: str, primary_port: int, standby_port: int) -> PatroniPair:
        return cls(prefix, (primary_port, standby_port))

    @property
    def url(self) -> str:
        a, b = self.ports
        return f"postgresql://postgres@127.0.0.1:{a},127.0.0.1:{b}/postgres?target_session_attrs=read-write"

    def _start(self, key: str, args: list[str], as_postgres: bool) -> None:
        log = open(self.folder / f"{key}.log", "ab")
        self.processes[key] = subprocess.Popen(
            _as_postgres(args) if as_postgres else args,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def _member(self, index: int) -> dict[str, Any] | None:
        try:
            response = httpx.get(f"http://127.0.0.1:{self.rest[index]}/patroni", timeout=2)
            return dict(response.json())
        except (httpx.HTTPError, ValueError):
            return None

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            for key, process in self.processes.items():
                if process.poll() is not None and not key.endswith("-killed"):
                    raise RuntimeError(
                        f"{key} exited {process.returncode}: see {self.folder / (key + '.log')}"
                    )
            time.sleep(0.2)
        raise RuntimeError(f"Patroni: {what} not within {timeout:.0f} s (logs in {self.folder})")

    def create(self, say: Callable[[str], None] = print) -> PatroniPair:
        if shutil.which("patroni") is None or shutil.which("etcd") is None:
            raise RuntimeError("the Patroni drill needs Debian's patroni and etcd-server packages")
        for port in self.ports:
            if not port_is_free(port):
                raise RuntimeError(f"port {port} is taken: choose others")
        shutil.chown(self.folder, "postgres") if os.geteuid() == 0 else None
        try:
            say(f"etcd on {self.etcd_port}, Patroni members on {self.ports[0]} and {self.ports[1]}")
            self._start(
                "etcd",
                [
                    "etcd", "--name", self.scope, "--data-dir", str(self.folder / "etcd"),
                    "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                    "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                    "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
                    "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
                    "--initial-cluster", f"{self.scope}=http://127.0.0.1:{self.etcd_peer}",
                ],
                as_postgres=False,
            )  # fmt: skip
            for index, name in enumerate(self.names):
                config = self.folder / f"{name}.yml"
                config.write_text(
                    _config(
                        name,
                        self.scope,
                        self.ports[index],
                        self.rest[index],
                        self.etcd_port,
                        self.folder,
                        self.version,
                    )
                )
                if os.geteuid() == 0:
                    shutil.chown(config, "postgres")
                self._start(name, ["patroni", str(config)], as_postgres=True)
                if index == 0:
                    self._wait(
                        "the first member leading", lambda: (self._member(0) or {}).get("role") == "master"
                    )
            self._wait(
                "the second member streaming synchronously",
                lambda: (
                    (self._member(1) or {}).get("state") == "running"
                    and any(
                        r.get("sync_state") == "sync" for r in (self._member(0) or {}).get("replication", [])
                    )
                ),
            )
        except BaseException:
            self.remove()
            raise
        return self

    def stop_primary(self) -> None:
        """The leader's node goes: its Patroni killed, then its PostgreSQL stopped at once."""
        name = self.names[self.leader]
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        self.processes[f"{name}-killed"] = process
        data = self.folder / name / "data"
        subprocess.run(
            _as_postgres(
                [
                    f"/usr/lib/postgresql/{self.version}/bin/pg_ctl",
                    "-D",
                    str(data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ]
            ),
            capture_output=True,
            timeout=60,
        )

    def take_over(self) -> None:
        """Nothing by hand: wait for Patroni to promote the standby (after the leader key's ttl)."""
        other = 1 - self.leader
        self._wait(
            "the standby promoted",
            lambda: (self._member(other) or {}).get("role") == "master",
            timeout=TTL * 4,
        )
        self.leader = other

    def remove(self) -> list[str]:
        removed = []
        for key, process in reversed(list(self.processes.items())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
                removed.append(key)
        for name in self.names:  # a PostgreSQL its Patroni left behind
            data = self.folder / name / "data"
            if (data / "postmaster.pid").exists():
                subprocess.run(
                    _as_postgres(
                        [
                            f"/usr/lib/postgresql/{self.version}/bin/pg_ctl",
                            "-D",
                            str(data),
                            "-m",
                            "immediate",
                            "stop",
                        ]
                    ),
                    capture_output=True,
                    timeout=60,
                )
        shutil.rmtree(self.folder, ignore_errors=True)
        removed.append(f"the folder of etcd and both members ({self.folder.name})")
        return removed
