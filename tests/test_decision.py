"""The one decision mechanism: decide on fresh reads, save once, decide again when another
writer got there first, within a time budget; a refused decision saves nothing."""

from __future__ import annotations

import time
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from ledger.errors import Contention, InvalidValue
from ledger.keys import site_key
from ledger.site import Site
from ledger.values import SYSTEM
from store.person_keys import CLAIMED
from tests.test_ledger import lan
from usecases.application import DoseLedger
from usecases.people import person_in

SOURCE = {"kind": "test"}


def _listing(site_id: str) -> Site:
    return Site.add_to_directory(
        site_key(site_id), site_id, None, "provisional", "01", None, SYSTEM.as_data(), SOURCE
    )


def _events(ledger: DoseLedger, aggregate_id) -> list[str]:
    return [type(e).__name__ for e in ledger.events.get(aggregate_id)]


def test_a_decision_saves_what_it_changed_and_answers_the_position_of_the_save(ledger):
    before = ledger.head()

    def choose(ws):
        ws.changed(_listing("A-1"), _listing("A-2"))
        return "listed"

    decided = ledger.decisions.decide(choose)
    assert decided.value == "listed"
    assert decided.position == ledger.head() == before + 2
    assert ledger.site("A-1") is not None and ledger.site("A-2") is not None


def test_a_decision_that_changes_nothing_answers_the_head_and_writes_nothing(ledger):
    ledger.register_site("S-1", name="Trạm Y tế", kind="official", province="01")
    head = ledger.head()
    decided = ledger.decisions.decide(lambda ws: ws.get(Site, site_key("S-1")) is not None)
    assert decided.value is True
    assert decided.position == head == ledger.head()


def test_a_decision_that_staged_a_key_row_but_changed_nothing_is_refused_not_lost(ledger):
    key = ledger.ids.national_id("001190000123")
    head = ledger.head()

    def choose(ws):  # a national id held for someone, and no person changed to save it with
        ws.hold_national_id(key, uuid4(), CLAIMED)

    with pytest.raises(RuntimeError, match="staged key rows but changed nothing"):
        ledger.decisions.decide(choose)
    assert ledger.head() == head
    assert ledger.decisions.working_set().national_id_holder(key) is None


def test_a_refused_decision_saves_nothing_and_is_not_tried_again(ledger):
    pid = ledger.register_person(lan()).person_id
    head = ledger.head()
    calls = []

    def choose(ws):
        calls.append(1)
        person = person_in(ws, pid)
        person.correct_details({"phone": "0987654321"}, "new number", SYSTEM.as_data(), SOURCE)
        ws.changed(person, _listing("B-1"))
        raise InvalidValue("phone", "refused after the changes were made in the working set")

    with pytest.raises(InvalidValue):
        ledger.decisions.decide(choose)
    assert len(calls) == 1
    assert ledger.head() == head
    assert ledger.site("B-1") is None
    assert ledger.person(pid).details["phone"] == "0912345678"


def test_a_decision_that_lost_to_another_writer_is_made_again_on_fresh_reads(ledger):
    pid = ledger.register_person(lan()).person_id
    seen_phones = []

    def choose(ws):
        person = person_in(ws, pid)
        seen_phones.append(person.details["phone"])
        if len(seen_phones) == 1:  # another writer saves the same person meanwhile
            ledger.correct_details(pid, {"phone": "0987654321"}, "new number")
        person.correct_details({"address": "1 Tràng Tiền"}, "moved", SYSTEM.as_data(), SOURCE)
        ws.changed(person)
        return person.id

    decided = ledger.decisions.decide(choose)
    assert seen_phones == ["0912345678", "0987654321"]
    assert decided.position == ledger.head()
    assert _events(ledger, pid) == ["Registered", "DetailsCorrected", "DetailsCorrected"]
    assert ledger.person(pid).details["address"] == "1 Tràng Tiền"


def test_contention_once_the_time_budget_is_spent_and_nothing_saved(ledger):
    ledger.register_site("S-1", name="Trạm Y tế", kind="official", province="01")
    head = ledger.head()
    calls = []

    def choose(ws):  # always loses: the site's stream already exists
        calls.append(1)
        ws.changed(_listing("C-1"), _listing("S-1"))

    started = time.monotonic()
    with pytest.raises(Contention):
        ledger.decisions.decide(choose, budget=1.0)
    elapsed = time.monotonic() - started
    # The last pause (at most 0.1 s) is not taken when it would end past the budget. A second
    # is several tries even where each try is slow on a busy machine.
    assert 0.8 <= elapsed < 5.0
    assert len(calls) >= 3
    assert ledger.head() == head
    assert ledger.site("C-1") is None


def test_the_budget_is_the_ledgers_unless_a_call_gives_its_own(store_url):
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url, "DOSELEDGER_DECISION_BUDGET": "0"})
    try:
        assert ledger.decisions.budget == 0
        ledger.register_site("S-1", name="Trạm Y tế", kind="official", province="01")
        calls = []

        def choose(ws):
            calls.append(1)
            if len(calls) < 3:
                ws.changed(_listing("S-1"))  # loses to the stored site
            else:
                ws.changed(_listing("D-1"))

        with pytest.raises(Contention):
            ledger.decisions.decide(choose)
        assert len(calls) == 1  # no budget: one attempt
        ledger.decisions.decide(choose, budget=5.0)
        assert len(calls) == 3 and ledger.site("D-1") is not None
    finally:
        ledger.close()


def test_a_use_case_answers_contention_when_its_writers_keep_losing(ledger, monkeypatch):
    pid = ledger.register_person(lan()).person_id
    ledger.decisions.budget = 0.05
    real_save = ledger.decisions.save

    def losing_save(*aggregates, claims=()):  # every save meets a stream another writer moved on
        raise IntegrityError("another writer saved first")

    monkeypatch.setattr(ledger.decisions, "save", losing_save)
    with pytest.raises(Contention):
        ledger.correct_details(pid, {"phone": "0987654321"}, "new number")
    monkeypatch.setattr(ledger.decisions, "save", real_save)
    assert ledger.person(pid).details["phone"] == "0912345678"
