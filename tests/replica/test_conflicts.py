"""Reads on a standby while `rebuild --all` swaps the views in on the primary.

The swap's DROP and RENAME replay on the standby under ACCESS EXCLUSIVE locks and cancel the
standby's reads that hold the tables (recovery conflicts, projections/engine/standby_reads.py):
the API runs such a read again, so none answers 5xx.

- On every store of tests/replica/conftest.py (SQLite, PostgreSQL, PostgreSQL read from the
  standby on 5433 with its settings as deploy/replica leaves them): API reads during rebuilds all
  answer 200; the standby's conflicts counted meanwhile are printed.
- On a standby of this test's own (port 5438, `deploy/replica create --name conflicts`, removed at
  the end) with `max_standby_streaming_delay = 0`, which cancels at once every read holding a
  swapped table: the conflicts happen (counted in pg_stat_database_conflicts and the replica
  section of /v1/projections), and still no read fails.
"""

from __future__ import annotations

import fcntl
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from cli.main import main
from config.settings import Settings
from projections.engine.standby_reads import RETRIED
from projections.running import start_embedded
from tests.api.conftest import Service, dose, lan
from tests.api.test_doses import SITE
from tests.conftest import ADMIN_URL, _new_schema
from tests.readside import FAST
from tests.replica.conftest import DEPLOY, _standby_state, on_standby, standby_caught_up
from usecases.application import DoseLedger

PEOPLE = 40
OWN_PORT = 5438
OWN_NAME = "conflicts"
OWN_LOCK = Path(tempfile.gettempdir()) / f"doseledger-standby-{OWN_PORT}.lock"


def conflicts(read_url: str) -> int:
    """The standby's recovery conflicts in the test's database, every kind together."""
    with psycopg.connect(read_url.split("?")[0], autocommit=True) as standby:
        row = standby.execute(
            "SELECT confl_lock + confl_snapshot + confl_bufferpin + confl_deadlock + confl_tablespace "
            "FROM pg_stat_database_conflicts WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture(scope="module")
def own_standby() -> Iterator[int]:
    """A standby on OWN_PORT that cancels a conflicting read at once (max_standby_streaming_delay
    0) and sends the primary no feedback (hot_standby_feedback off): conflicts are sure."""
    primary_port = str(urlsplit(ADMIN_URL).port or 5432)
    where = ["--port", str(OWN_PORT), "--primary-port", primary_port, "--name", OWN_NAME]
    # One run at a time builds it (a second waits here): whatever the lock's holder finds is
    # then a leftover of a run killed before its `finally`, the cluster and its slot, removed.
    with open(OWN_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([str(DEPLOY), "remove", *where], check=True)
        if _standby_state(OWN_PORT) is not None:
            pytest.fail(f"port {OWN_PORT} is taken: this test builds a standby of its own there")
        yield from _built(where)


def _built(where: list[str]) -> Iterator[int]:
    try:
        # pg_basebackup copies the whole shared server: a copy cut short by another client's
        # administration (its sessions terminated) is taken once more.
        if subprocess.run([str(DEPLOY), "create", *where]).returncode != 0:
            subprocess.run([str(DEPLOY), "create", *where], check=True)
        with psycopg.connect(host="127.0.0.1", port=OWN_PORT, user="postgres", autocommit=True) as standby:
            standby.execute("ALTER SYSTEM SET max_standby_streaming_delay = 0")
            standby.execute("ALTER SYSTEM SET hot_standby_feedback = off")
            standby.execute("SELECT pg_reload_conf()")
        yield OWN_PORT
    finally:
        subprocess.run([str(DEPLOY), "remove", *where], check=True)


def people(service: Service) -> list[str]:
    """PEOPLE people with a dose each, in every view (the projector then stopped, by the caller)."""
    site = service.caller("site", **SITE)
    ids, position = [], 0
    for n in range(PEOPLE):
        written = site.post("/v1/doses", json=dose(f"C{n}", person=lan(national_id=f"001186{n:06d}")))
        assert written.status_code == 201, written.text
        ids.append(written.json()["person_id"])
        position = written.json()["position"]
    assert service.app.state.views.wait(position, 30)
    return ids


@pytest.fixture
def serving() -> Iterator[Any]:
    """`serve(write, read)`: the API reading from `read`, its views filled by a projector that
    is stopped before the test rebuilds them (a rebuild waits for a running projector)."""
    opened: list[Any] = []

    def serve(write: str, read: str) -> tuple[Service, list[str]]:
        ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": write})
        opened.append(ledger)
        projector = start_embedded(write, **FAST)
        opened.append(projector)
        client = TestClient(
            create_app(Settings(database_url=write, read_database_url=read), ledger=ledger),
            raise_server_exceptions=False,
        )
        opened.append(client.__enter__())
        service = Service(client.app, client, ledger)  # type: ignore[arg-type]  # the app is FastAPI's
        ids = people(service)
        projector.stop()
        standby_caught_up(write, read)
        return service, ids

    yield serve
    for thing in reversed(opened):
        if isinstance(thing, TestClient):
            thing.__exit__(None, None, None)
        elif isinstance(thing, DoseLedger):
            thing.close()
        else:
            thing.stop()


def read_while_rebuilding(service: Service, ids: list[str], write: str, rounds: int) -> Counter[int]:
    """The answers' status codes of API reads (certificates, statistics) by several threads
    while `rebuild --all` runs `rounds` times on the primary."""
    token = service.token("province", provinces=["01"])
    headers = {"Authorization": f"Bearer {token}"}
    answers: Counter[int] = Counter()
    wrong: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def reader(worker: int) -> None:
        n = worker
        while not done.is_set():
            person = ids[n % len(ids)]
            n += 1
            certificate = service.client.get(f"/v1/certificates/{person}", headers=headers)
            counts = service.client.get("/v1/stats/doses", params={"group_by": "province"}, headers=headers)
            with lock:
                answers[certificate.status_code] += 1
                answers[counts.status_code] += 1
                if certificate.status_code == 200 and len(certificate.json()["doses"]) != 1:
                    wrong.append(f"certificate of {person}: {certificate.text[:200]}")
                if counts.status_code == 200 and counts.json()["rows"] != [
                    {"province": "01", "doses": PEOPLE}
                ]:
                    wrong.append(f"counts: {counts.text[:200]}")

    readers = [threading.Thread(target=reader, args=(w,)) for w in range(4)]
    for thread in readers:
        thread.start()
    try:
        for _ in range(rounds):
            assert main(["--database-url", write, "rebuild", "--all", "--quiet"]) == 0
    finally:
        done.set()
        for thread in readers:
            thread.join()
    assert wrong == []
    return answers


def test_reads_through_the_api_answer_while_rebuild_all_swaps_the_views_in(
    serving, store_url, read_url, capsys
):
    service, ids = serving(store_url, read_url)
    before = conflicts(read_url) if read_url != store_url else 0
    answers = read_while_rebuilding(service, ids, store_url, rounds=2)
    assert set(answers) == {200}, answers
    if read_url != store_url:
        standby_caught_up(store_url, read_url)
        counted = conflicts(read_url) - before
        replica = service.caller("reporter").get("/v1/projections").json()["replica"]
        assert replica["conflicts"] is not None and set(replica["conflicts"]) >= {"lock", "snapshot"}
        with capsys.disabled():
            print(
                f"\n{sum(answers.values())} reads on the standby (port {urlsplit(read_url).port}) during "
                f"two rebuilds: all 200; recovery conflicts counted there: {counted}; "
                f"run again: {replica['retried_reads']}"
            )


def test_reads_cancelled_by_the_replay_of_a_swap_are_run_again_and_none_fails(
    serving, own_standby, postgres_database, capsys
):
    write = _new_schema(postgres_database)
    read = on_standby(write, own_standby)
    service, ids = serving(write, read)
    view = service.app.state.views.certificates
    before, retried_before = conflicts(read), RETRIED.count
    seen: list[tuple[int, int]] = []
    failed: list[BaseException] = []
    stop = threading.Event()

    def report() -> None:
        """A long read, as a report's: its transaction holds the table between two statements,
        when a swap's replay terminates its session (it sits idle in the transaction then)."""
        while not stop.is_set():
            try:
                with view.reading() as sql:
                    first = sql.rows("SELECT COUNT(*) AS n FROM {people}")[0]["n"]
                    time.sleep(0.2)
                    second = sql.rows("SELECT COUNT(*) AS n FROM {people}")[0]["n"]
                seen.append((first, second))
            except BaseException as error:  # noqa: BLE001 - each one is the test's failure
                failed.append(error)
                return

    long_reads = [threading.Thread(target=report) for _ in range(2)]
    for thread in long_reads:
        thread.start()
    try:
        answers: Counter[int] = Counter()
        for _ in range(4):  # a conflict per swap is likely, not sure: a few rounds
            answers += read_while_rebuilding(service, ids, write, rounds=1)
            standby_caught_up(write, read)
            if conflicts(read) > before and RETRIED.count > retried_before:
                break
    finally:
        stop.set()
        for thread in long_reads:
            thread.join()
    counted = conflicts(read) - before
    replica = service.caller("reporter").get("/v1/projections").json()["replica"]
    assert set(answers) == {200}, answers
    assert failed == []
    assert seen and all(pair == (PEOPLE, PEOPLE) for pair in seen), seen[:5]
    assert counted > 0, "the standby cancelled no read: the test proved nothing"
    assert RETRIED.count > retried_before
    assert replica["conflicts"]["lock"] + replica["conflicts"]["snapshot"] >= counted
    assert replica["retried_reads"] >= RETRIED.count - retried_before
    with capsys.disabled():
        print(
            f"\n{sum(answers.values())} API reads and {len(seen)} long reads on a standby with "
            f"max_standby_streaming_delay 0 during rebuilds: all answered; recovery conflicts "
            f"{counted} ({replica['conflicts']}), read statements run again {RETRIED.count - retried_before}"
        )
