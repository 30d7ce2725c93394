"""`doseledger demo` seeds a realistic data set: every kind of case the ledger must handle."""

from __future__ import annotations

from cli.demo import seed


def test_the_demo_seeds_every_kind_of_case(ledger):
    summary = seed(ledger, seed=7, people=150)
    assert summary.sites["official"] >= 10 and summary.sites["mobile"] >= 3
    assert summary.sites["unlisted, now provisional"] >= 3  # read back from the ledger
    assert summary.people["registered"] == 150
    assert summary.people["sharing a phone"] > 0 and summary.people["without national id"] > 0
    assert summary.people["merged duplicates"] == 1
    assert summary.doses["recorded"] > 150 and summary.doses["amended"] and summary.doses["voided"]
    assert summary.corrections["open"] and summary.corrections["open, overdue (> 7 days)"]
    assert summary.corrections["accepted"] + summary.corrections["rejected"] > 0


def test_the_same_seed_gives_the_same_data(store_url, tmp_path):
    from usecases.application import DoseLedger

    other_url = f"sqlite:///{tmp_path}/other.db"
    with (
        DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url}) as a,
        DoseLedger(env={"DOSELEDGER_DATABASE_URL": other_url}) as b,
    ):
        assert seed(a, seed=3, people=60) == seed(b, seed=3, people=60)
        assert a.head() == b.head()
