"""kill -9 of the API in the middle of a background import, then a start again: the import
completes with every row booked exactly once, or (its kept upload gone) is marked failed with
exactly what was stored; never left `running`."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from intake.retro.jobs import KEPT
from tests.reliability.server import Server
from tests.retro_files import FORM, people_rows, stored_doses, write_csv
from usecases.principals import issue_token

CLI = {"principal_id": "reliability tests", "role": "admin"}
ROWS = 6000  # long enough to be killed in the middle of, on a slow machine too


def server(store_url: str, tmp_path: Path) -> Server:
    return Server(
        store_url,
        tmp_path / "server.log",
        DOSELEDGER_IMPORT_DIR=str(tmp_path / "imports"),
        DOSELEDGER_IMPORT_BACKGROUND_BYTES="0",
        DOSELEDGER_IMPORT_RESUME_AFTER_SECONDS="1",
    )


def start_import_and_kill_it_midway(store_url: str, tmp_path: Path, token: str) -> tuple[str, int]:
    """The import id, and the rows its status showed saved just before the kill."""
    (tmp_path / "imports").mkdir()
    path = write_csv(tmp_path / "large.csv", people_rows(ROWS))
    running = server(store_url, tmp_path).start()
    try:
        with httpx.Client(
            base_url=running.base, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            response = http.post(
                "/v1/imports",
                files={"file": ("large.csv", path.read_bytes(), "text/csv")},
                data={"unit": FORM.unit, "attested_by": FORM.attested_by, "site_id": str(FORM.site_id)},
            )
            assert response.status_code == 202, response.text
            location = response.headers["location"]
            deadline = time.monotonic() + 120
            while (status := http.get(location).json())["rows"] < 1000:
                assert status["status"] == "running", status
                assert time.monotonic() < deadline, status
                time.sleep(0.02)
            time.sleep(0.3)  # into the next chunk, its doses perhaps saved and its report not
            status = http.get(location).json()
    finally:
        running.kill()
    assert status["rows"] < ROWS, "the import ended before the kill: make the file larger"
    return response.json()["import_id"], status["rows"]


def poll_until_ended(base: str, token: str, import_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        while (status := http.get(f"/v1/imports/{import_id}").json())["status"] == "running":
            assert time.monotonic() < deadline, f"still running: {status}"
            time.sleep(0.2)
    return status


def rows_booked(ledger: Any, import_id: str) -> Counter[int]:
    return Counter(e.source["row"] for e in stored_doses(ledger) if e.source.get("import_id") == import_id)


def test_an_import_killed_midway_is_resumed_at_start_and_books_every_row_once(ledger, store_url, tmp_path):
    token, _ = issue_token(ledger, role="site", sites=[str(FORM.site_id)], actor=CLI)
    import_id, seen = start_import_and_kill_it_midway(store_url, tmp_path, token)
    before = rows_booked(ledger, import_id)
    assert 0 < len(before) < ROWS

    started = time.monotonic()
    with server(store_url, tmp_path) as again:
        status = poll_until_ended(again.base, token, import_id)
        took = time.monotonic() - started
        deadline = time.monotonic() + 10
        while list((tmp_path / "imports").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert (status["status"], status["rows"], status["rejected"]) == ("completed", ROWS, 0), status
    assert (status["created"], status["duplicate"]) == (ROWS, 0)  # a cut chunk's rows are its own
    assert status["resumed"] == 1
    booked = rows_booked(ledger, import_id)
    assert len(booked) == ROWS and set(booked.values()) == {1}  # every row, exactly once
    assert list((tmp_path / "imports").iterdir()) == []  # the kept upload removed once it ended
    print(
        f"\n[import kill -9] store={store_url.split(':')[0]} rows={ROWS} saved before the kill: "
        f"{len(before)} (status showed {seen}), resumed and completed in {took:.1f}s"
    )


def test_an_import_killed_midway_whose_upload_is_gone_fails_with_what_was_stored(ledger, store_url, tmp_path):
    token, _ = issue_token(ledger, role="site", sites=[str(FORM.site_id)], actor=CLI)
    import_id, _ = start_import_and_kill_it_midway(store_url, tmp_path, token)
    (kept,) = (tmp_path / "imports").glob(f"{KEPT}*")
    for file in kept.iterdir():
        file.unlink()
    kept.rmdir()

    with server(store_url, tmp_path) as again:
        status = poll_until_ended(again.base, token, import_id)
    booked = rows_booked(ledger, import_id)
    assert status["status"] == "failed", status
    assert status["created"] == len(booked) and set(booked.values()) == {1}  # exactly what was stored
    assert status["last_row"] == max(booked)
    assert f"{len(booked)} rows booked" in status["reason"]
