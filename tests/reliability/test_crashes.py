"""kill -9 of the API during a batch, and of the projector during a rebuild: nothing half-done.

A batch is one transaction: after a crash each batch is stored whole or not at all, every
acknowledged batch is there, and sending the batch again answers duplicate for what was
stored and created for the rest. A projector killed mid-rebuild resumes to views equal to a
fresh rebuild. DOSELEDGER_HEAVY=1 kills more often (figures in docs/RELIABILITY.md).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from typing import Any

import httpx

from cli.demo import seed
from projections import open_views
from projections.running import rebuild
from tests.readside import assert_views_are_a_fresh_fold, everything, rebuilding_rows, signed_and_caught_up
from tests.reliability.server import DOSELEDGER, ROOT, Server, doseledger, environment
from tests.reliability.stored import doses_by_site_record, site_record_claims
from usecases.principals import issue_token

HEAVY = os.environ.get("DOSELEDGER_HEAVY") == "1"
SITE = "01-TYT-001"
CLI = {"principal_id": "reliability tests", "role": "admin"}
BATCH = 300


def batch(number: int, people: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "site_id": SITE,
            "site_record_id": f"B{number:03d}-{i:04d}",
            "person_id": people[i % len(people)],
            "vaccine": "EU/1/21/1529",
            "administered_at": f"2022-{1 + i % 12:02d}-{1 + i % 28:02d}",
        }
        for i in range(BATCH)
    ]


def send_batches_until_refused(
    base: str,
    token: str,
    people: list[str],
    first: int,
    acknowledged: list[int],
    sent: list[int],
    stop: threading.Event,
) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        number = first
        while not stop.is_set():
            sent.append(number)
            try:
                response = http.post("/v1/doses/batch", json={"doses": batch(number, people)})
            except httpx.TransportError:
                return  # the server died under this batch
            assert response.status_code == 200, response.text
            assert response.json()["counts"]["created"] == BATCH
            acknowledged.append(number)
            number += 1


def test_a_batch_cut_by_kill_9_is_stored_whole_or_not_at_all_and_resending_completes_it(
    ledger, store_url, tmp_path
):
    token, _ = issue_token(ledger, role="site", sites=[SITE], actor=CLI)
    people = [
        str(
            ledger.register_person(
                {"full_name": f"Người Thử {i}", "birth_date": "1975-03-03", "province": "01"}
            ).person_id
        )
        for i in range(40)
    ]
    rng = random.Random(9)
    acknowledged: list[int] = []
    sent: list[int] = []
    kills = 0
    for _ in range(6 if HEAVY else 1):
        server = Server(store_url, tmp_path / "server.log").start()
        stop = threading.Event()
        sender = threading.Thread(
            target=send_batches_until_refused,
            daemon=True,
            args=(server.base, token, people, (sent[-1] + 1) if sent else 0, acknowledged, sent, stop),
        )
        sender.start()
        while len(acknowledged) < 1 + kills * 2:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.4))  # somewhere inside the next batch
        server.kill()
        kills += 1
        sender.join(30)
        assert not sender.is_alive()

    stored = doses_by_site_record(ledger)
    in_batch = {n: sum(stored.get((SITE, d["site_record_id"]), 0) for d in batch(n, people)) for n in sent}
    assert all(count in (0, BATCH) for count in in_batch.values()), in_batch  # never half a batch
    assert all(in_batch[n] == BATCH for n in acknowledged)  # every acknowledged dose is there
    assert set(stored.values()) <= {1}
    assert site_record_claims(ledger) == stored  # no dose without its claim, nor a claim alone

    with (
        Server(store_url, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
    ):
        for n in sent:  # the site sends everything again: the cut batch completes, nothing doubles
            results = http.post("/v1/doses/batch", json={"doses": batch(n, people)}).json()["results"]
            expected = "duplicate" if in_batch[n] else "created"
            assert {r["status"] for r in results} == {expected}, (n, in_batch[n])
        reconciled = doseledger(store_url, "reconcile", "--timeout", "120")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    stored = doses_by_site_record(ledger)
    assert len(stored) == len(sent) * BATCH and set(stored.values()) == {1}
    print(
        f"\n[api kill -9] store={store_url.split(':')[0]} kills={kills} batches sent={len(sent)} "
        f"acknowledged={len(acknowledged)} cut batches stored whole="
        f"{sum(1 for n in sent if n not in acknowledged and in_batch[n])} not at all="
        f"{sum(1 for n in sent if not in_batch[n])} half=0"
    )


def _progress(views: Any, head: int) -> str:
    """ "midway": a view replayed part of the way, or the certificates folded for some people
    only (into the table beside theirs, which replaces them once whole); "whole": every view
    at the head and nothing folded aside; otherwise "not started"."""
    positions = [s["position"] for s in views.status()]
    aside = rebuilding_rows(views)
    if aside or any(0 < p < head for p in positions):
        return "midway"
    return "whole" if all(p == head for p in positions) else "not started"


def _kill_when_started(args: list[str], url: str, head: int, rng: random.Random) -> bool:
    """Start a projector process; kill -9 it once it has applied some events but not all.
    True if it was caught mid-way (rather than before its first page or after its last).
    A projector (which never ends by itself) finding every view whole is killed at once."""
    process = subprocess.Popen(
        [DOSELEDGER, *args],
        env=environment(url),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    caught = False
    with open_views(url) as views:
        while time.monotonic() < deadline and process.poll() is None:
            progress = _progress(views, head)
            if progress == "midway":
                time.sleep(rng.uniform(0, 0.2))
                caught = process.poll() is None
                break
            if progress == "whole" and args[0] == "project":
                break
            time.sleep(0.02)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    return caught


def test_a_projector_killed_during_a_rebuild_resumes_to_views_equal_to_a_fresh_rebuild(ledger, store_url):
    seed(ledger, people=300)
    head = ledger.head()
    rng = random.Random(3)
    caught = rounds = 0
    # On a loaded machine a round may find the rebuild already done: then it goes again.
    while rounds < (4 if HEAVY else 1) or (not caught and rounds < 8):
        caught += _kill_when_started(["rebuild", "--all", "--quiet"], store_url, head, rng)
        caught += _kill_when_started(["project"], store_url, head, rng)  # the restart, killed too
        rounds += 1
    assert caught >= 1  # at least one process died with a view half rebuilt

    worker = subprocess.Popen(
        [DOSELEDGER, "project"],
        env=environment(store_url),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with open_views(store_url) as views:
            assert views.wait(head, timeout=120), views.status()
            # The projector's issuer signs what the rebuilds left unsigned: issuances the
            # ledger records after `head`, which the views then fold too.
            signed_and_caught_up(views, ledger)
            resumed = everything(views)
            deadline = time.monotonic() + 60  # the views may be whole before the worker holds them
            while rebuilding_rows(views) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert rebuilding_rows(views) == 0  # what a killed fold left, the projector emptied
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    rebuild(store_url, "all", progress=False)
    with open_views(store_url) as views:
        assert everything(views) == resumed
        assert_views_are_a_fresh_fold(views, ledger)
    print(
        f"\n[projector kill -9] store={store_url.split(':')[0]} events={head} "
        f"rounds={rounds} processes killed mid-replay={caught}"
    )
