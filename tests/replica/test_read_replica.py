"""Reads served where DOSELEDGER_READ_DATABASE_URL says: a standby, or the store itself.

Every test here runs on three stores (tests/replica/conftest.py): SQLite and PostgreSQL with the
read URL equal to the write URL, and PostgreSQL whose views are read from a streaming standby.
"""

from __future__ import annotations

import json

import pytest

from config.settings import InvalidSetting, Settings
from tests.api.conftest import dose, lan
from tests.api.test_doses import SITE


def test_a_dose_is_read_back_from_where_reads_go_once_its_position_is_there(service, read_url, store_url):
    site = service.caller("site", **SITE)
    written = site.post("/v1/doses", json=dose("R1", person=lan())).json()
    seen = {"min_position": written["position"]}
    certificate = site.get(f"/v1/certificates/{written['person_id']}", params=seen)
    counts = service.caller("reporter").get("/v1/stats/doses", params={"group_by": "province", **seen})
    assert certificate.status_code == 200, certificate.text
    assert [d["dose_id"] for d in certificate.json()["doses"]] == [written["dose_id"]]
    assert counts.json()["rows"] == [{"province": "01", "doses": 1}]
    status = service.caller("reporter").get("/v1/projections").json()
    assert all(p["position"] >= written["position"] for p in status["projections"]), status
    if read_url == store_url:
        assert status["replica"] is None
    else:
        assert status["replica"]["state"] == "streaming" and status["replica"]["paused"] is False
        assert status["replica"]["bytes_behind"] is not None


def test_a_read_waiting_for_a_position_not_reached_answers_503_with_retry_after(service):
    service.app.state.settings = service.app.state.settings.model_copy(update={"read_wait_seconds": 0.2})
    site = service.caller("site", **SITE)
    written = site.post("/v1/doses", json=dose("R2", person=lan())).json()
    response = site.get(
        f"/v1/certificates/{written['person_id']}", params={"min_position": written["position"] + 1000}
    )
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.headers["content-type"].startswith("application/problem+json")


def test_metrics_show_the_standby_lag_only_where_reads_go_to_a_standby(service, read_url, store_url):
    body = service.anonymous().get("/metrics").text
    assert "doseledger_projection_position" in body
    gauges = ("doseledger_replica_up", "doseledger_replica_lag_bytes", "doseledger_replica_replay_paused")
    if read_url == store_url:
        assert not any(g in body for g in gauges)
    else:
        assert "doseledger_replica_up 1.0" in body and "doseledger_replica_replay_paused 0.0" in body
        assert "doseledger_replica_lag_bytes" in body


def test_status_prints_the_projections_and_the_replica_plain_and_as_json(
    service, cli, monkeypatch, read_url, store_url
):
    site = service.caller("site", **SITE)
    written = site.post("/v1/doses", json=dose("R3", person=lan())).json()
    assert service.app.state.views.wait(written["position"], 10)
    monkeypatch.setenv("DOSELEDGER_READ_DATABASE_URL", read_url)
    code, out, err = cli("status", "--json")
    assert code == 0, err
    found = json.loads(out)
    certificates = next(p for p in found["projections"] if p["name"] == "certificates")
    assert certificates["position"] >= written["position"] and certificates["state"] == "running"
    code, text, err = cli("status")
    assert code == 0, err
    assert "certificates" in text and "running" in text
    if read_url == store_url:
        assert found["replica"] is None and "replica: none" in text
    else:
        assert found["replica"]["state"] == "streaming" and "replica: streaming" in text
        assert "postgres" not in out + text  # no credentials, no URL


def test_a_read_url_other_than_the_store_is_refused_for_sqlite_naming_the_variable(tmp_path):
    store = f"sqlite:///{tmp_path}/ledger.db"
    assert Settings(database_url=store, read_database_url=store).read_url() is None
    for read in (f"sqlite:///{tmp_path}/copy.db", "postgresql://postgres@127.0.0.1:5433/postgres"):
        with pytest.raises(InvalidSetting, match="DOSELEDGER_READ_DATABASE_URL: SQLite has no read replica"):
            Settings(database_url=store, read_database_url=read)


def test_a_standby_must_serve_the_same_database_and_schema():
    write = "postgresql://postgres@127.0.0.1:5432/ledger?schema=a"
    assert Settings(database_url=write, read_database_url=write).read_url() is None
    assert Settings(database_url=write, read_database_url=write.replace("5432", "5433")).read_url()
    with pytest.raises(InvalidSetting, match="DOSELEDGER_READ_DATABASE_URL: the schema"):
        Settings(database_url=write, read_database_url="postgresql://postgres@127.0.0.1:5433/ledger?schema=b")
    with pytest.raises(
        InvalidSetting, match="DOSELEDGER_READ_DATABASE_URL: a standby serves the same database"
    ):
        Settings(database_url=write, read_database_url="postgresql://postgres@127.0.0.1:5433/other?schema=a")


def test_a_read_url_with_several_hosts_must_ask_for_a_standby():
    """A min_position read checks the position on one pooled connection and reads on another:
    with several hosts both must land on standbys, never one on the primary."""
    write = "postgresql://postgres@127.0.0.1:5432/ledger?schema=a"
    several = "postgresql://postgres:secret@127.0.0.1:5432,127.0.0.1:5433/ledger?schema=a"
    assert Settings(
        database_url=write, read_database_url=f"{several}&target_session_attrs=standby"
    ).read_url()
    for attrs in ("", "&target_session_attrs=prefer-standby", "&target_session_attrs=any"):
        with pytest.raises(InvalidSetting) as refused:
            Settings(database_url=write, read_database_url=several + attrs)
        message = str(refused.value)
        assert "DOSELEDGER_READ_DATABASE_URL: several hosts need target_session_attrs=standby" in message
        assert "secret" not in message
