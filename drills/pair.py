"""A PostgreSQL primary and a streaming standby of the drill's own, made with Debian's tools.

Never the machine's own clusters: the drill makes two clusters under names of its own on ports
of its own (`pg_createcluster`), the standby copied with `pg_basebackup -R -X stream -C -S`
(its replication slot on the primary), and drops both when it is done (`pg_dropcluster`), with
the slot. Run as root (the clusters run as the postgres user) or as postgres.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n"


# Loopback only; room for a served ledger's pools and its projector beside the clients.
SETTINGS = "listen_addresses = '127.0.0.1'\nmax_connections = 150\nwal_level = replica\n"


def debian_version() -> str:
    """The newest PostgreSQL that postgresql-common manages here (/etc/postgresql/<version>)."""
    versions = sorted(Path(p).name for p in glob.glob("/etc/postgresql/*") if Path(p).name[0].isdigit())
    if not versions or shutil.which("pg_createcluster") is None:
        raise RuntimeError("the drill needs Debian's postgresql-common (pg_createcluster) and a PostgreSQL")
    return max(versions, key=lambda v: [int(x) for x in v.split(".")])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _run(args: list[str], timeout: float = 120) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:3])} ... failed ({done.returncode}): {done.stderr.strip()[-800:]}"
        )
    return done.stdout


@dataclass
class Cluster:
    version: str
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return Path(f"/var/lib/postgresql/{self.version}/{self.name}")

    @property
    def etc(self) -> Path:
        return Path(f"/etc/postgresql/{self.version}/{self.name}")

    def exists(self) -> bool:
        return (self.etc / "postgresql.conf").exists()

    def create(self) -> None:
        """An empty cluster, not started, that nothing starts at boot."""
        _run(
            [
                "pg_createcluster",
                "--port", str(self.port),
                "--start-conf", "manual",
                self.version, self.name,
                "--", "--auth=trust", "--no-sync",
            ]
        )  # fmt: skip
        (self.etc / "pg_hba.conf").write_text(HBA)
        (self.etc / "conf.d" / "drill.conf").write_text(SETTINGS)

    def ctl(self, *args: str, timeout: float = 120) -> None:
        _run(["pg_ctlcluster", self.version, self.name, *args], timeout)

    def start(self) -> None:
        self.ctl("start")
        self.wait_until_up()

    def wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop_at_once(self) -> None:
        """`-m immediate`: every server process quits at once, as when the machine fails."""
        self.ctl("stop", "-m", "immediate")

    def promote(self) -> None:
        self.ctl("promote")

    def sql(self, statement: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def drop(self) -> None:
        if self.exists():
            _run(["pg_dropcluster", "--stop", self.version, self.name])
        # pg_dropcluster leaves the folder when a file of the drill's own is in it.
        shutil.rmtree(self.etc, ignore_errors=True)


@dataclass
class Pair:
    """A primary and its standby; `synchronous`: every commit waits for the standby's flush."""

    primary: Cluster
    standby: Cluster
    synchronous: bool
    slot: str = field(init=False)

    def __post_init__(self) -> None:
        self.slot = self.standby.name.replace("-", "_")

    @classmethod
    def named(cls, prefix: str, primary_port: int, standby_port: int, synchronous: bool) -> Pair:
        version = debian_version()
        return cls(
            Cluster(version, f"{prefix}-primary", primary_port),
            Cluster(version, f"{prefix}-standby", standby_port),
            synchronous,
        )

    @property
    def url(self) -> str:
        """libpq's multi-host URL: whichever of the two takes writes."""
        return (
            f"postgresql://postgres@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
            "/postgres?target_session_attrs=read-write"
        )

    @property
    def mode(self) -> str:
        return "synchronous" if self.synchronous else "asynchronous"

    def stop_primary(self) -> None:
        self.primary.stop_at_once()

    def take_over(self) -> None:
        """The standby promoted by hand (`pg_ctlcluster ... promote`, which waits for it)."""
        self.standby.promote()

    def create(self) -> Pair:
        for cluster in (self.primary, self.standby):
            if cluster.exists():
                raise RuntimeError(
                    f"a cluster {cluster.version}/{cluster.name} exists already: remove it first"
                )
            if not port_is_free(cluster.port):
                raise RuntimeError(f"port {cluster.port} is taken: choose others")
        try:
            self.primary.create()
            self.primary.start()
            self.standby.create()
            # The standby's data is the primary's, copied; its configuration stays Debian's own.
            _run(_as_postgres(["find", str(self.standby.data), "-mindepth", "1", "-delete"]))
            _run(
                _as_postgres(
                    [
                        f"/usr/lib/postgresql/{self.standby.version}/bin/pg_basebackup",
                        "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres",
                        "-D", str(self.standby.data), "-R", "-X", "stream", "-C", "-S", self.slot,
                        "--no-sync", "-c", "fast",
                    ]
                )
            )  # fmt: skip
            self.standby.start()
            self.wait_streaming()
            if self.synchronous:
                # After the copy: a standby copied with it would wait, once promoted, for a
                # standby of its own that does not exist.
                self.primary.sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
                self.primary.sql("SELECT pg_reload_conf()")
                self.wait_streaming(state="sync")
        except BaseException:
            self.remove()
            raise
        return self

    def wait_streaming(self, state: str | None = None, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.primary.sql("SELECT state, sync_state FROM pg_stat_replication")
            if any(row[0] == "streaming" and (state is None or row[1] == state) for row in rows):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the standby on port {self.standby.port} does not stream ({state or 'async'})")

    def remove(self) -> list[str]:
        """Both clusters dropped, and the standby's slot with the primary (where it lives);
        a promoted standby's own slots are dropped first. What was dropped, said."""
        said = []
        for cluster in (self.standby, self.primary):
            with_slots = ""
            try:
                for (slot,) in cluster.sql("SELECT slot_name FROM pg_replication_slots"):
                    cluster.sql(f"SELECT pg_drop_replication_slot('{slot}')")
                    said.append(f"slot {slot} on {cluster.name}")
            except psycopg.Error:
                with_slots = " (down: its slots went with its data)"
            if cluster.exists() or cluster.etc.exists():
                cluster.drop()
                said.append(f"cluster {cluster.version}/{cluster.name}{with_slots}")
        return said
