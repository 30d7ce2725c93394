"""Doses sent one at a time by many sites at once are written together, each answered alone."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import pytest

from ledger.errors import SiteRecordConflict, UnknownVaccine
from ledger.values import Actor
from tests.test_ledger import dose_events, lan
from usecases.group_commit import DoseWriter
from usecases.receipts import DoseOutcome


def test_concurrent_single_doses_share_transactions_and_keep_their_own_answers(ledger):
    people = [
        ledger.register_person(lan(national_id=None, full_name=f"Người {n}")).person_id for n in range(10)
    ]
    writer = DoseWriter(ledger, linger=0.005)
    try:

        def send(n: int):
            return writer.record(
                actor=Actor(f"site-{n % 4}", "site"),
                site_id=f"S{n % 4}",
                site_record_id=str(n),
                vaccine="Pfizer",
                administered_at="2021-08-01",
                person_id=people[n % 10],
            )

        with ThreadPoolExecutor(16) as pool:
            receipts = list(pool.map(send, range(200)))
            again = list(pool.map(send, range(200)))
    finally:
        writer.close()
    assert len({r.dose_id for r in receipts}) == 200 and not any(r.duplicate for r in receipts)
    assert all(r.duplicate for r in again)
    assert [r.dose_id for r in again] == [r.dose_id for r in receipts]
    assert len({r.position for r in receipts}) < 200  # some shared a transaction
    assert sum(len(dose_events(ledger, p)) for p in people) == 200


def test_a_refused_dose_in_a_group_fails_alone(ledger):
    pid = ledger.register_person(lan()).person_id
    writer = DoseWriter(ledger)
    try:
        good = writer.record(
            actor=Actor("s", "site"),
            site_id="S",
            site_record_id="1",
            vaccine="Pfizer",
            administered_at="2021-08-01",
            person_id=pid,
        )
        with pytest.raises(SiteRecordConflict):
            writer.record(
                actor=Actor("s", "site"),
                site_id="S",
                site_record_id="1",
                vaccine="Moderna",
                administered_at="2021-08-01",
                person_id=pid,
            )
        with pytest.raises(UnknownVaccine):
            writer.record(
                actor=Actor("s", "site"),
                site_id="S",
                site_record_id="2",
                vaccine="Snake Oil",
                administered_at="2021-08-01",
                person_id=pid,
            )
    finally:
        writer.close()
    assert [e.dose_id for e in dose_events(ledger, pid)] == [good.dose_id]


def test_a_dose_whose_caller_gave_up_before_it_was_taken_is_not_written(ledger):
    """A request that timed out heard "retry": its queued dose must not land behind its back,
    and the doses queued with it are still answered."""
    pid = ledger.register_person(lan()).person_id
    writer = DoseWriter(ledger, linger=0.2)  # a long gathering window, so the cancel lands first

    def queue(record: str):
        return writer.submit(
            actor=Actor("s", "site"),
            site_id="S",
            site_record_id=record,
            vaccine="Pfizer",
            administered_at="2021-08-01",
            person_id=pid,
        )

    try:
        kept, abandoned = queue("1"), queue("2")
        assert abandoned.cancel()
        kept_receipt = kept.result(10).receipt
        retried = writer.record(
            actor=Actor("s", "site"),
            site_id="S",
            site_record_id="2",
            vaccine="Pfizer",
            administered_at="2021-08-01",
            person_id=pid,
        )
    finally:
        writer.close()
    assert not retried.duplicate  # the abandoned attempt wrote nothing
    assert [e.dose_id for e in dose_events(ledger, pid)] == [kept_receipt.dose_id, retried.dose_id]


def test_callers_on_an_event_loop_each_hear_their_own_answer_and_a_cancelled_one_is_not_written(ledger):
    pid = ledger.register_person(lan()).person_id
    writer = DoseWriter(ledger, linger=0.05)

    def fields(record: str, vaccine: str = "Pfizer") -> dict:
        return dict(
            actor=Actor("s", "site"),
            site_id="S",
            site_record_id=record,
            vaccine=vaccine,
            administered_at="2021-08-01",
            person_id=pid,
        )

    async def story():
        first = [asyncio.ensure_future(writer.decide(**fields(str(n)))) for n in range(10)]
        abandoned = asyncio.ensure_future(writer.decide(**fields("gone")))
        await asyncio.sleep(0)  # queued
        abandoned.cancel()
        conflicting = asyncio.ensure_future(writer.decide(**fields("0", vaccine="Moderna")))
        return await asyncio.gather(*first), await conflicting

    try:
        outcomes, conflict = asyncio.run(story())
    finally:
        writer.close()
    assert [o.status for o in outcomes] == ["created"] * 10
    assert len({o.receipt.dose_id for o in outcomes}) == 10
    assert isinstance(conflict.error, SiteRecordConflict)
    assert sorted(e.dose_id for e in dose_events(ledger, pid)) == sorted(o.receipt.dose_id for o in outcomes)


def test_doses_submitted_in_one_turn_of_a_loop_reach_the_writer_together(ledger):
    """No gathering window at all (linger 0), and the loop pausing between requests (as a server
    reading them off sockets does, which lets the writer thread run): what one turn of the loop
    submitted is still one hand-over, so one group and one save (one position)."""
    people = [
        ledger.register_person(lan(national_id=None, full_name=f"Người {n}")).person_id for n in range(20)
    ]
    writer = DoseWriter(ledger, linger=0)

    async def request(n: int, person: UUID) -> DoseOutcome:
        time.sleep(0.002)  # the GIL released: the writer thread may take what waits
        return await writer.decide(
            actor=Actor("s", "site"),
            site_id="S",
            site_record_id=f"turn-{n}",
            vaccine="Pfizer",
            administered_at="2021-08-01",
            person_id=person,
        )

    async def one_turn():
        return await asyncio.gather(*(request(n, person) for n, person in enumerate(people)))

    try:
        outcomes = asyncio.run(one_turn())
    finally:
        writer.close()
    assert [o.status for o in outcomes] == ["created"] * 20
    assert len({o.receipt.position for o in outcomes}) == 1
