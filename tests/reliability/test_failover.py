"""The primary fails; a standby takes over; the writer finds it without a restart, loses nothing.

A primary and a standby of the test's own (drills.pair: Debian's pg_createcluster on free ports),
never the machine's shared server. Only PostgreSQL: SQLite has no standby.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from drills.failover import drill
from drills.pair import Pair
from drills.patroni import PatroniPair
from store.url import URL_KEY
from tests.reliability.server import free_port
from usecases.application import DoseLedger


def _pair(synchronous: bool) -> Pair:
    return Pair.named(f"t{uuid.uuid4().hex[:8]}", free_port(), free_port(), synchronous)


@pytest.fixture
def pair():
    made = _pair(synchronous=True).create()
    yield made
    made.remove()


def _ports_in_the_pool(ledger: DoseLedger, n: int) -> set[int]:
    """The server port of `n` connections taken from the pool at once."""
    datastore = ledger.recorder.datastore
    ports: set[int] = set()
    taken = [datastore.pool.getconn() for _ in range(n)]
    try:
        for conn in taken:
            ports.add(conn.execute("SELECT inet_server_port() AS port").fetchone()["port"])
    finally:
        for conn in taken:
            datastore.pool.putconn(conn)
    return ports


def test_pooled_connections_to_a_dead_primary_are_discarded_and_new_ones_reach_the_promoted_standby(pair):
    with DoseLedger(env={URL_KEY: pair.url}) as ledger:
        people = [
            ledger.register_person(
                {"full_name": f"Bà Ba {i}", "birth_date": "1950-01-01", "province": "01"}
            ).person_id
            for i in range(6)
        ]
        assert _ports_in_the_pool(ledger, 6) == {pair.primary.port}

        pair.stop_primary()
        pair.take_over()

        # Every write after the takeover succeeds at its first try: each pooled connection to the
        # dead primary is found dead as it is taken, discarded, and replaced by one to the new one.
        errors: list[str] = []

        def write(i: int) -> None:
            try:
                ledger.record_dose(
                    site_id="01-TYT-001",
                    site_record_id=f"after-{i}",
                    vaccine="EU/1/20/1528",
                    administered_at="2021-08-01",
                    person_id=people[i],
                )
            except Exception as error:  # noqa: BLE001 - collected, asserted below
                errors.append(f"{type(error).__name__}: {error}")

        threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert _ports_in_the_pool(ledger, 6) == {pair.standby.port}
        assert len(ledger.recorder.select_streams(people)) == 6 * 2  # registered, then the dose


@pytest.mark.parametrize("synchronous", [True, False], ids=["synchronous", "asynchronous"])
def test_the_failover_drill_finds_the_new_primary_and_loses_nothing_with_a_synchronous_standby(synchronous):
    report = drill(_pair(synchronous).create(), clients=32, before=2.0, after=2.0, say=lambda _: None)
    print("\n" + "\n".join(report.lines()))

    assert report.unexpected == []  # only 2xx and 503 (sent again) were answered
    assert report.stop_to_first_write_s is not None and report.acknowledged_after_stop > 0
    assert report.lost == len(report.lost_records) <= report.acknowledged
    assert report.views_caught_up_s is not None, report.views_at  # the projector resumed, no rebuild
    assert report.verify_exit == 0, report.verify_output[-3000:]
    assert report.reconcile_exit == 0, report.reconcile_output[-3000:]
    assert len(report.removed) == 2  # both clusters (with the slot) are gone
    if synchronous:
        assert report.lost == 0, report.lost_records
        assert report.clean


def test_patroni_promotes_the_standby_and_the_writer_finds_it_losing_nothing():
    """The automatic variant: etcd and two Patroni members (synchronous mode) of the test's own;
    the leader's node goes (Patroni killed, PostgreSQL stopped at once) and Patroni promotes."""
    members = PatroniPair.named(f"p{uuid.uuid4().hex[:6]}", free_port(), free_port()).create(
        say=lambda _: None
    )
    report = drill(members, clients=32, before=2.0, after=2.0, say=lambda _: None)
    print("\n" + "\n".join(report.lines()))

    assert report.unexpected == []
    assert report.stop_to_first_write_s is not None and report.acknowledged_after_stop > 0
    assert report.lost == 0, report.lost_records
    assert report.views_caught_up_s is not None, report.views_at
    assert report.verify_exit == 0, report.verify_output[-3000:]
    assert report.reconcile_exit == 0, report.reconcile_output[-3000:]
