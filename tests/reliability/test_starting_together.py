"""Processes starting on a new store at the same moment all start.

A server and its projection worker, or a test and the command it runs, may each be the first
to open a new PostgreSQL schema; both create its tables. The loser of that race used to stop
with "tuple concurrently updated" (CI, a killed-rebuild test). On SQLite the loser of the
switch of a new file to WAL mode stopped with "database is locked" (CI, 1 run in ~20 under load).
"""

from __future__ import annotations

import threading

from projections.views import open_views
from usecases.application import DoseLedger

STARTERS = 6


def test_servers_and_workers_opening_a_new_store_at_once_all_open_it(store_url):
    barrier = threading.Barrier(STARTERS)
    failures: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            open_views(store_url).close()
        except BaseException as e:  # noqa: BLE001 - collected, asserted below
            failures.append(e)

    threads = [threading.Thread(target=start) for _ in range(STARTERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert not any(t.is_alive() for t in threads), "a starter is still waiting"
    assert failures == []
    # ...and the store they made works: a registration is stored and read back.
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    try:
        registration = ledger.register_person(
            {
                "full_name": "Trần Văn Bình",
                "birth_date": "1990-01-02",
                "sex": "male",
                "national_id": "079090001234",
                "phone": "0901234567",
                "province": "79",
                "district": "Quận 1",
                "address": "1 Lê Lợi",
            }
        )
        assert ledger.repository.get(registration.person_id).details["full_name"] == "Trần Văn Bình"
    finally:
        ledger.close()
