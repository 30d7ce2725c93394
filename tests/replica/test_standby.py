"""A streaming standby serving the views' reads: read-your-writes under load, a paused replay,
the projector kept off it."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from eventsourcing.persistence import OperationalError
from fastapi.testclient import TestClient

from api.app import create_app
from cli.main import main
from config.settings import Settings
from projections.views import open_views
from store.replica import StandbyRefused, refuse_standby
from tests.api.conftest import Service, dose, lan
from tests.api.test_doses import SITE
from tests.conftest import ADMIN_URL
from tests.replica.conftest import replay_paused, serve
from usecases.application import DoseLedger


@pytest.fixture
def on_standby(standby_url: tuple[str, str], request: pytest.FixtureRequest) -> Iterator[Service]:
    """The API reading from the standby; `read_wait_seconds` as the test's `read_wait` mark says."""
    write, read = standby_url
    marked = request.node.get_closest_marker("read_wait")
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": write})
    try:
        yield from serve(write, read, ledger, read_wait_seconds=marked.args[0] if marked else 5)
    finally:
        ledger.close()


def gauge(body: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", body, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def replayed(caller, path: str, params: dict, within: float = 30) -> Any:
    """A `min_position` read asked again after each 503 (the read wait here is 1 s: the standby
    replaying a burst, or the projector a page, can take longer on a busy machine)."""
    deadline = time.monotonic() + within
    while (answer := caller.get(path, params=params)).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
    return answer


@pytest.mark.read_wait(1)
def test_reads_wait_then_answer_503_while_replay_is_paused_and_never_stale_data(on_standby, standby_url):
    site = on_standby.caller("site", **SITE)
    reporter = on_standby.caller("reporter")
    first = site.post("/v1/doses", json=dose("P1", person=lan())).json()
    assert (
        replayed(
            site, f"/v1/certificates/{first['person_id']}", {"min_position": first["position"]}
        ).status_code
        == 200
    )
    with replay_paused(standby_url[1]):
        written = site.post(
            "/v1/doses", json=dose("P2", person=lan(full_name="Lê Văn Nam", national_id="001190000002"))
        ).json()
        seen = {"min_position": written["position"]}
        started = time.monotonic()
        certificate = site.get(f"/v1/certificates/{written['person_id']}", params=seen)
        waited = time.monotonic() - started
        counts = reporter.get("/v1/stats/doses", params={"group_by": "province", **seen})
        assert certificate.status_code == 503 and certificate.headers["retry-after"] == "1"
        assert counts.status_code == 503 and counts.headers["retry-after"] == "1"
        assert waited >= 1.0  # the read waited the setting's time before it gave up
        before = reporter.get("/v1/projections").json()
        metrics_before = on_standby.anonymous().get("/metrics").text
        for n in range(3, 8):
            site.post("/v1/doses", json=dose(f"P{n}", person=lan(national_id=f"0011850000{n:02d}")))
        time.sleep(1.1)  # the replay age counts in seconds
        after = reporter.get("/v1/projections").json()
        metrics_after = on_standby.anonymous().get("/metrics").text
        assert before["replica"]["state"] == after["replica"]["state"] == "paused"
        assert after["replica"]["bytes_behind"] > before["replica"]["bytes_behind"] > 0
        assert after["replica"]["replay_age_seconds"] > before["replica"]["replay_age_seconds"]
        lag = {p["name"]: p["lag_events"] for p in after["projections"]}
        assert (
            lag["certificates"] > {p["name"]: p["lag_events"] for p in before["projections"]}["certificates"]
        )
        assert gauge(metrics_after, "doseledger_replica_replay_paused") == 1.0
        assert gauge(metrics_after, "doseledger_replica_up") == 0.0
        assert gauge(metrics_after, "doseledger_replica_lag_bytes") > gauge(
            metrics_before, "doseledger_replica_lag_bytes"
        )
    certificate = replayed(site, f"/v1/certificates/{written['person_id']}", seen)
    assert certificate.status_code == 200, certificate.text
    assert [d["dose_id"] for d in certificate.json()["doses"]] == [written["dose_id"]]
    assert reporter.get("/v1/projections").json()["replica"]["state"] == "streaming"


def test_the_projector_refuses_a_standby(standby_url, capsys):
    code = main(["--database-url", standby_url[1], "project"])
    err = capsys.readouterr().err
    assert code == 2
    assert "is a standby (pg_is_in_recovery())" in err and "DOSELEDGER_DATABASE_URL" in err


def hosts(*ports: int) -> str:
    """libpq's several hosts, on the test server's address."""
    host = urlsplit(ADMIN_URL).hostname
    return ",".join(f"{host}:{port}" for port in ports)


def test_the_projector_runs_on_a_failover_url_whose_first_host_is_now_a_standby(standby, capsys):
    """After a failover the old primary comes back as a standby, first in the URL: libpq's
    read-write passes over it to the primary, and so does the projector's standby check."""
    primary = urlsplit(ADMIN_URL).port or 5432
    url = f"postgresql://postgres@{hosts(standby, primary)}/postgres?target_session_attrs=read-write"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False  # type: ignore[index]
    refuse_standby(url, "doseledger project")  # the primary answers: nothing refused
    only_standbys = f"postgresql://postgres:secret@{hosts(standby, standby)}/postgres"
    with pytest.raises(StandbyRefused) as refused:
        refuse_standby(only_standbys, "doseledger project")
    assert f"at {urlsplit(ADMIN_URL).hostname}:{standby} is a standby" in str(refused.value)
    assert "secret" not in str(refused.value)


def test_a_read_url_asking_for_a_standby_reads_from_a_standby(standby, standby_url):
    """A read URL listing the primary first and target_session_attrs=standby: the views' reads
    go where libpq's attribute sends them, not to the first host listed."""
    write, _ = standby_url
    primary = urlsplit(ADMIN_URL).port or 5432
    parts = urlsplit(write)
    read = f"postgresql://postgres@{hosts(primary, standby)}{parts.path}?{parts.query}&target_session_attrs=standby"
    with open_views(write, read_url=read) as views, views.replica.get_connection() as conn:
        assert conn.execute("SELECT pg_is_in_recovery() AS r").fetchone()["r"] is True  # type: ignore[index]


def test_a_min_position_wait_is_bounded_by_its_timeout_when_the_standby_is_away(standby_url):
    """README: a `min_position` read waits at most DOSELEDGER_READ_WAIT_SECONDS. With the
    standby gone (nothing on its port) the wait gives up within its time too, with the store's
    OperationalError (the API's 503), not after the pool's 5 s connect timeout."""
    write, _ = standby_url
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        gone = s.getsockname()[1]
    parts = urlsplit(write)
    read = f"postgresql://postgres@127.0.0.1:{gone}{parts.path}?{parts.query}"
    with open_views(write, read_url=read) as views:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="the standby did not answer"):
            views.wait(1, timeout=0.5)
        assert time.monotonic() - started < 1.5


def test_a_min_position_read_answers_503_within_its_wait_while_the_standby_is_away(standby_url):
    """Reads do not fall back to the primary: with the standby away a `min_position` read
    answers 503 problem+json with Retry-After, within DOSELEDGER_READ_WAIT_SECONDS."""
    write, _ = standby_url
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        gone = s.getsockname()[1]
    parts = urlsplit(write)
    read = f"postgresql://postgres@127.0.0.1:{gone}{parts.path}?{parts.query}"
    settings = Settings(database_url=write, read_database_url=read, read_wait_seconds=0.5)
    with (
        DoseLedger(env={"DOSELEDGER_DATABASE_URL": write}) as ledger,
        TestClient(create_app(settings, ledger=ledger), raise_server_exceptions=False) as client,
    ):
        service = Service(client.app, client, ledger)  # type: ignore[arg-type]  # the app is FastAPI's
        site = service.caller("site", **SITE)
        written = site.post("/v1/doses", json=dose("A1", person=lan())).json()
        started = time.monotonic()
        read_back = site.get(
            f"/v1/certificates/{written['person_id']}", params={"min_position": written["position"]}
        )
        assert time.monotonic() - started < 1.5
    assert read_back.status_code == 503 and read_back.headers["retry-after"]
    assert read_back.headers["content-type"].startswith("application/problem+json")
