"""The API's certificate read for an event loop (`certificate_on_loop`), on both stores."""

from __future__ import annotations

import asyncio
import sqlite3

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from projections import open_views
from projections.engine.statements import Sql
from projections.running import start_embedded
from tests.test_ledger import dose, lan
from usecases.application import DoseLedger


def test_the_loop_read_answers_what_the_pooled_read_answers_and_sees_each_new_write(
    ledger: DoseLedger, store_url
):
    person = ledger.register_person(lan()).person_id
    projector = start_embedded(store_url)
    views = open_views(store_url, ledger=ledger)
    try:
        certificates = views.certificates
        assert views.wait(ledger.head(), 10)
        first = asyncio.run(certificates.certificate_on_loop(person))
        assert first == certificates.certificate(person) and first["doses"] == []
        dose(ledger, person, "R1")
        assert views.wait(ledger.head(), 10)
        # The same loop thread, the connection it kept: a later committed write is seen.
        after = asyncio.run(certificates.certificate_on_loop(person))
        assert after == certificates.certificate(person) and len(after["doses"]) == 1
        assert asyncio.run(certificates.certificate_on_loop("6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e")) is None
    finally:
        projector.stop()
        views.close()


def test_reads_arriving_together_each_get_their_own_persons_certificate(
    ledger: DoseLedger, store_url, monkeypatch
):
    """Under load many reads wait on the loop at once; on PostgreSQL they share one query."""
    people = [
        ledger.register_person(lan(national_id=f"0011850{k:05d}", phone=f"09123{k:05d}")).person_id
        for k in range(40)
    ]
    for k, person in enumerate(people):
        for n in range(k % 3):  # none, one or two doses: certificates that differ
            dose(ledger, person, f"R{k}-{n}", administered_at=f"2021-0{7 + n}-01")
    projector = start_embedded(store_url)
    views = open_views(store_url, ledger=ledger)
    statements = []
    for name in ("rows", "rows_in"):
        original = getattr(Sql, name)

        def counted(self, *args, _original=original, **kwargs):
            statements.append(args[0])
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Sql, name, counted)
    try:
        certificates = views.certificates
        assert views.wait(ledger.head(), 10)
        unknown = "6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e"

        async def together():
            return await asyncio.gather(
                *(certificates.certificate_on_loop(p) for p in [*people, unknown, people[0]])
            )

        statements.clear()
        found = asyncio.run(together())
        reads = len(statements)
        assert found[-2] is None and found[-1] == found[0]
        for person, certificate in zip(people, found, strict=False):
            assert certificate == certificates.certificate(person)
            assert certificate["person_id"] == str(person)
        assert {len(c["doses"]) for c in found[:-2]} == {0, 1, 2}
        if store_url.startswith("postgresql"):
            assert reads < len(people) / 4, reads  # gathered, not one round trip each
    finally:
        projector.stop()
        views.close()


def test_a_read_the_store_cannot_answer_is_the_stores_operational_error(
    ledger: DoseLedger, store_url, monkeypatch
):
    """SQLite locked past its busy wait, PostgreSQL gone: either way the API answers 503."""
    views = open_views(store_url, ledger=ledger)
    certificates = views.certificates
    asyncio.run(
        certificates.certificate_on_loop("6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e")
    )  # opens what it reads on
    failure = (
        sqlite3.OperationalError("database is locked")
        if store_url.startswith("sqlite")
        else psycopg.OperationalError("server closed the connection unexpectedly")
    )

    def failing(*args, **kwargs):
        raise failure

    monkeypatch.setattr(Sql, "rows", failing)
    monkeypatch.setattr(Sql, "rows_in", failing)  # PostgreSQL gathers the reads waiting together
    with pytest.raises(OperationalError):  # the store's own error: the API answers 503 + Retry-After
        asyncio.run(certificates.certificate_on_loop("6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e"))

    async def together():
        return await asyncio.gather(
            *(
                certificates.certificate_on_loop(f"6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d{k:02d}")
                for k in range(5)
            ),
            return_exceptions=True,
        )

    failed = asyncio.run(together())  # every reader waiting on a failed query hears of it
    assert all(isinstance(e, OperationalError) for e in failed), failed
    views.close()
    if store_url.startswith("sqlite"):  # PostgreSQL's reads keep no connection of their own
        assert certificates._readers == {}  # closing the views closed the loop's connection
