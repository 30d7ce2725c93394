"""`doseledger anchor`, `doseledger project`'s interval anchors and `replay verify --all` against
them, each in its own process as an operator runs them, on each store."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from cli.anchor import start_anchoring
from config.settings import Settings
from store.anchors import public_pem, signing_key
from tests.reliability.server import DOSELEDGER, ROOT, Server, doseledger, environment
from tests.stored_rows import StoredRows
from tests.test_ledger import dose, lan

# The processes below run the projections without signing keys: with keys, their issuer records
# the person's certificate (one more event) at a moment of its own, before or after any anchor,
# and the latest anchor could not be expected at the store's head.
NO_KEYS = "no-signing-keys"


def _people(ledger, n: int = 2) -> list:
    people = []
    for i in range(n):
        pid = ledger.register_person(lan(national_id=f"00119001234{i}", phone=f"098765432{i}")).person_id
        dose(ledger, pid, f"C{i}-1")
        dose(ledger, pid, f"C{i}-2", administered_at="2021-08-29")
        people.append(pid)
    return people


def test_verify_all_says_when_there_is_no_anchor(ledger, store_url, tmp_path):
    _people(ledger, 1)
    env = {"DOSELEDGER_ANCHOR_DIR": str(tmp_path / "anchors")}
    found = doseledger(store_url, "replay", "verify", "--all", "--no-views", **env)
    assert found.returncode == 0, found.stdout + found.stderr
    assert "no anchor in" in " ".join(found.stdout.split())


def test_anchor_then_verify_all_names_a_truncated_stream(ledger, store_url, tmp_path):
    people = _people(ledger)
    env = {"DOSELEDGER_ANCHOR_DIR": str(tmp_path / "anchors")}
    written = doseledger(store_url, "anchor", "--json", **env)
    assert written.returncode == 0, written.stdout + written.stderr
    summary = json.loads(written.stdout)
    assert summary["position"] == ledger.head() and summary["streams"] >= len(people)
    assert (tmp_path / "anchors" / summary["name"]).is_file()
    assert (tmp_path / "anchors" / "anchor-signing.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")

    clean = doseledger(store_url, "replay", "verify", "--all", "--no-views", "--json", **env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    report = json.loads(clean.stdout)
    assert "anchor" in report["checked"] and report["anchor"]["name"] == summary["name"]

    rows = StoredRows(store_url)
    rows.delete(people[1], 3)  # the stream's last event
    rows.close()
    found = doseledger(store_url, "replay", "verify", "--all", "--no-views", "--json", **env)
    assert found.returncode == 1, found.stdout + found.stderr
    report = json.loads(found.stdout)
    assert [(d["stream_id"], d["kind"], d["finding"], d["version"]) for d in report["differences"]] == [
        (str(people[1]), "anchor", "truncated", 3)
    ]
    # One person's verify checks their stream against the anchor too.
    one = doseledger(store_url, "replay", "verify", str(people[1]), "--no-views", "--json", **env)
    assert one.returncode == 1, one.stdout + one.stderr
    report = json.loads(one.stdout)
    assert "anchor" in report["checked"]
    assert [(d["kind"], d["finding"], d["version"]) for d in report["differences"]] == [
        ("anchor", "truncated", 3)
    ]
    other = doseledger(store_url, "replay", "verify", str(people[0]), "--no-views", "--json", **env)
    assert other.returncode == 0, other.stdout + other.stderr
    assert "anchor" in json.loads(other.stdout)["checked"]


def test_the_projector_writes_an_anchor_every_interval(ledger, store_url, tmp_path):
    _people(ledger, 1)
    anchors = tmp_path / "anchors"
    env = environment(
        store_url,
        DOSELEDGER_ANCHOR_DIR=str(anchors),
        DOSELEDGER_ANCHOR_INTERVAL_SECONDS="0.5",
        DOSELEDGER_SIGNING_KEYS_DIR=str(tmp_path / NO_KEYS),
    )
    log = (tmp_path / "project.log").open("w")
    worker = subprocess.Popen([DOSELEDGER, "project"], env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        wait_for_anchors(anchors, 2, covering=ledger.head)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        log.close()
    written = sorted(anchors.glob("anchor-*.json"))
    assert len(written) >= 2, (tmp_path / "project.log").read_text()
    latest = json.loads(written[-1].read_text())
    assert latest["position"] == ledger.head()
    found = doseledger(
        store_url, "replay", "verify", "--all", "--no-views", "--json", DOSELEDGER_ANCHOR_DIR=str(anchors)
    )
    assert found.returncode == 0, found.stdout + found.stderr


def wait_for_anchors(anchors, count: int, timeout: float = 60, covering=None) -> list:
    """The anchors once there are `count` of them (and, given `covering`, the latest one is at
    the position it returns), or as they are after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        written = sorted(anchors.glob("anchor-*.json"))
        if len(written) >= count and (covering is None or _position(written[-1]) == covering()):
            break
        time.sleep(0.2)
    return sorted(anchors.glob("anchor-*.json"))


def _position(anchor) -> int | None:
    try:
        return json.loads(anchor.read_text())["position"]
    except ValueError:  # written under a temporary name and linked whole, but be safe
        return None


def test_the_server_with_embedded_projections_writes_the_interval_anchors(ledger, store_url, tmp_path):
    _people(ledger, 1)
    anchors = tmp_path / "anchors"
    env = {
        "DOSELEDGER_ANCHOR_DIR": str(anchors),
        "DOSELEDGER_ANCHOR_INTERVAL_SECONDS": "0.5",
        "DOSELEDGER_SIGNING_KEYS_DIR": str(tmp_path / NO_KEYS),
    }
    with Server(store_url, tmp_path / "serve.log", projections="embedded", **env) as server:
        written = wait_for_anchors(anchors, 2, covering=ledger.head)
        assert len(written) >= 2, server.log()
    assert json.loads(written[-1].read_text())["position"] == ledger.head()


def test_the_server_without_the_projections_writes_no_anchor(ledger, store_url, tmp_path):
    """`--projections external`: the projector's process anchors, not the server's."""
    anchors = tmp_path / "anchors"
    env = {"DOSELEDGER_ANCHOR_DIR": str(anchors), "DOSELEDGER_ANCHOR_INTERVAL_SECONDS": "0.2"}
    with Server(store_url, tmp_path / "serve.log", projections="external", **env):
        time.sleep(1.5)
    assert not anchors.exists() or not list(anchors.glob("anchor-*"))


def test_a_failed_interval_anchor_is_logged_and_the_next_interval_tries_again(
    ledger, store_url, tmp_path, monkeypatch, caplog
):
    _people(ledger, 1)
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    foreign = public_pem(signing_key(b"f" * 32).public_key())
    (anchors / "anchor-signing.pub").write_bytes(foreign)  # another deployment's folder
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", store_url)
    monkeypatch.setenv("DOSELEDGER_ANCHOR_DIR", str(anchors))
    started = start_anchoring(Settings(anchor_interval_seconds=0.1))
    assert started is not None
    stopping, thread = started
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "could not be written" not in caplog.text:
            time.sleep(0.05)
        assert "is not the public key of the anchor secret" in caplog.text
        assert not list(anchors.glob("anchor-*.json"))
        (anchors / "anchor-signing.pub").unlink()  # the operator points it at its own folder
        assert wait_for_anchors(anchors, 1, timeout=30)
    finally:
        stopping.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_no_interval_anchor_when_the_interval_is_0():
    assert start_anchoring(Settings(anchor_interval_seconds=0)) is None
