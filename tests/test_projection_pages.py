"""A page a projection applies is all or nothing, and the next page applies after one that failed,
on SQLite and on PostgreSQL (where the page's reads and its write share one transaction)."""

from __future__ import annotations

from typing import Any

import pytest

from projections.certificates import Certificates
from projections.engine.stores import construct_view
from projections.statistics import Statistics
from tests.test_ledger import dose, lan
from usecases.application import DoseLedger


class WriteFails(Exception):
    pass


def test_a_page_failing_in_its_write_changes_nothing_and_the_next_page_applies(store_url):
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    try:
        pid = ledger.register_person(lan()).person_id
        dose(ledger, pid, "R1")
        first = ledger.recorder.select_notifications(start=1, limit=1000)
        dose(ledger, pid, "R2", administered_at="2021-08-29")
        second = ledger.recorder.select_notifications(
            start=first[-1].id, limit=1000, inclusive_of_start=False
        )
        view = construct_view(ledger, Statistics)
        projection = Statistics(view=view)
        at = projection.process_notifications(first, ledger.mapper, after=None)
        counted = view.dose_counts(["date"])
        assert counted == [{"date": "2021-08-01", "doses": 1}]

        written = view._write

        def write_then_fail(sql: Any, *args: Any) -> None:
            written(sql, *args)  # the rows are written, then the page fails before it commits
            raise WriteFails

        view._write = write_then_fail  # type: ignore[method-assign]
        with pytest.raises(WriteFails):
            projection.process_notifications(second, ledger.mapper, after=at)
        assert view.position() == at
        assert view.dose_counts(["date"]) == counted

        del view._write
        assert projection.process_notifications(second, ledger.mapper, after=at) == second[-1].id
        assert view.position() == second[-1].id
        assert view.dose_counts(["date"]) == [
            {"date": "2021-08-01", "doses": 1},
            {"date": "2021-08-29", "doses": 1},
        ]
    finally:
        ledger.close()


class Stop(Exception):
    pass


def test_people_saved_under_new_rules_stay_saved_when_the_page_then_fails(store_url):
    """A rules adoption saves the people a page does not touch a few at a time, ahead of the
    page: a page that then fails leaves those saved (a stop halfway leaves some done)."""
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    try:
        pid = ledger.register_person(lan()).person_id
        dose(ledger, pid, "R1")
        notes = ledger.recorder.select_notifications(start=1, limit=1000)
        view = construct_view(ledger, Certificates)
        projection = Certificates(view=view)
        at = projection.process_notifications(notes, ledger.mapper, after=None)
        ((key, (record, document)),) = view.load([str(pid)]).items() or view.page_after("").items()

        def adopt_elsewhere_then_fail(events: list[Any], tracking: Any, after: Any) -> None:
            # what Certificates._adopt_elsewhere does for each of its pages, then a stop
            view.save_people({key: (record, {**document, "review": "re-evaluated"})})
            raise Stop

        projection.process_page = adopt_elsewhere_then_fail  # type: ignore[method-assign]
        with pytest.raises(Stop):
            projection.process_events([], at + 1, after=at)
        assert view.load([key])[key][1].get("review") == "re-evaluated"
    finally:
        ledger.close()
