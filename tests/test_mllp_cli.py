"""`doseledger mllp` as a process (both stores): it serves its peers file's peers, answers and
books, stops on SIGTERM; a bad peers file or half the TLS options stop it at the start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.mllp_client import connect, send_all
from ledger.keys import dose_id_for
from tests.test_mllp_booking import SITE, msa, vxu
from usecases.application import DoseLedger


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command(store_url: str, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DOSELEDGER_DATABASE_URL": store_url, "DOSELEDGER_MLLP_MAX_MESSAGE_BYTES": "4096"}
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "mllp", *args],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the listener did not start")


def test_the_command_serves_its_peers_and_stops_on_sigterm(store_url: str, tmp_path: Path) -> None:
    DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url}).close()  # the store made once, keyed
    peers = tmp_path / "peers.json"
    peers.write_text(json.dumps({"peers": [{"name": "ward", "sites": [SITE], "addresses": ["127.0.0.1"]}]}))
    port = _free_port()
    process = _command(store_url, tmp_path, "--port", str(port), "--peers", str(peers))
    try:
        _wait_for(port, process)
        with connect(port) as sock:
            acks = send_all(sock, [vxu(1), vxu(2, pad="x" * 5000)], pipelined=1)
        assert [msa(a) for a in acks] == [("AA", "C1"), ("AR", "C2")]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "listening on 127.0.0.1" in err and "messages 1, oversize 1, cut 0" in err, err
    assert "peer ward connected" in err and "peer ward disconnected" in err
    assert "Exception" not in err and "Error" not in err, err
    assert "Nguyen" not in err  # no personal data in the log
    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url}) as ledger:
        person_id, _ = ledger.dose_origin(dose_id_for(SITE, "R1"))
        assert person_id


def test_a_bad_peers_file_or_half_the_tls_options_stop_the_start(store_url: str, tmp_path: Path) -> None:
    peers = tmp_path / "peers.json"
    peers.write_text(json.dumps({"peers": [{"name": "ward", "sites": [SITE]}]}))
    process = _command(store_url, tmp_path, "--port", str(_free_port()), "--peers", str(peers))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "peer 1: give 'addresses' or a client certificate 'subject'" in err
    process = _command(store_url, tmp_path, "--port", str(_free_port()), "--tls-cert", str(peers))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "give --tls-cert, --tls-key and --tls-ca together" in err
