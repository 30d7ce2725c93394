"""The API's certificate read for an event loop (`certificate_on_loop`), on both stores."""

from __future__ import annotations

import asyncio
import sqlite3

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from ledger.application import DoseLedger
from projections import open_views
from projections.storage import Sql
from projections.running import start_embedded
from tests.test_ledger import dose, lan


def test_the_loop_read_answers_what_the_pooled_read_answers_and_sees_each_new_write(ledger: DoseLedger, store_url):
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


def test_a_read_the_store_cannot_answer_is_the_stores_operational_error(ledger: DoseLedger, store_url,
                                                                       monkeypatch):
    """SQLite locked past its busy wait, PostgreSQL gone: either way the API answers 503."""
    views = open_views(store_url, ledger=ledger)
    certificates = views.certificates
    asyncio.run(certificates.certificate_on_loop("6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e"))  # opens what it reads on
    failure = (sqlite3.OperationalError("database is locked") if store_url.startswith("sqlite")
               else psycopg.OperationalError("server closed the connection unexpectedly"))

    def failing(*args, **kwargs):
        raise failure

    monkeypatch.setattr(Sql, "rows", failing)
    with pytest.raises(OperationalError):  # the store's own error: the API answers 503 + Retry-After
        asyncio.run(certificates.certificate_on_loop("6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e"))
    views.close()
    assert getattr(certificates, "_readers", {}) == {}  # closing the views closed any loop connection
