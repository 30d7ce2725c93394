"""bench.growth: the start store the grown levels are measured between is a copy, kept apart."""

from __future__ import annotations

from bench import growth, http
from usecases.application import DoseLedger


def test_the_start_store_is_a_copy_measured_between_the_grown_levels(store_url):
    assert growth.interleaved((1_000_000, 5_000_000)) == [None, 1_000_000, None, 5_000_000, None]
    assert growth.interleaved((30_000,)) == [None, 30_000, None]
    kind = "postgresql" if store_url.startswith("postgresql") else "sqlite"
    # A database of its own: a template copy ends the source database's other sessions.
    with http.store(kind) as url:
        http.register(url, 3)
        with DoseLedger(env={"DOSELEDGER_DATABASE_URL": url}) as ledger:
            stored = ledger.head()
        with growth.copy_of(url) as copied:
            assert copied != url
            with DoseLedger(env={"DOSELEDGER_DATABASE_URL": copied}) as ledger:
                assert ledger.head() == stored > 0
            http.register(copied, 2, first=100)
            with DoseLedger(env={"DOSELEDGER_DATABASE_URL": copied}) as ledger:
                assert ledger.head() > stored
        with DoseLedger(env={"DOSELEDGER_DATABASE_URL": url}) as ledger:
            assert ledger.head() == stored
        with growth.copy_of(url) as again, DoseLedger(env={"DOSELEDGER_DATABASE_URL": again}) as ledger:
            assert ledger.head() == stored  # a fresh copy: the first copy's doses are not in it
