"""The lean event path (ledger.chain: ChainedAggregate._created_lean, _lean_event) stores
exactly what the library's generic path stores: the same batch, recorded once each way into
two stores with the same ids, clocks and random bytes, leaves the same rows (topics, versions,
state bytes with their chain digests, sealed values included), reads back through the
library's repository and the application's mapper to the same events, and folds to the same
aggregates."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from ledger import chain
from ledger.person import Person
from ledger.values import Actor
from tests.stored_states import repeatable
from usecases.application import DoseLedger

CLERK = Actor("clerk-1", "site")
SITE = "79-BV-001"


def _inline(k: int) -> dict[str, Any]:
    return {
        "site_id": SITE,
        "site_record_id": f"first-{k}",
        "vaccine": "EU/1/20/1528",
        "lot": "FA1234",
        "administered_at": f"2021-07-{1 + k % 28:02d}",
        "person": {
            "full_name": f"Người thứ {k}",
            "birth_date": "1980-01-01",
            "province": "79",
            "national_id": f"0791800{k:05d}" if k % 2 else None,
            "phone": "0912345678",
        },
    }


def _dose(person_id: str, k: int) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "site_id": SITE,
        "site_record_id": f"second-{k}",
        "vaccine": "EU/1/20/1528",
        "lot": "FB5678",
        "administered_at": f"2021-09-{1 + k % 28:02d}",
    }


def _record(url: str, lean: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], dict[UUID, Any]]:
    """The batches recorded through one path: (every stored record, every stream folded)."""
    monkeypatch.setattr(chain, "LEAN", lean)
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": url})
    try:
        with repeatable():
            first = ledger.record_doses([_inline(k) for k in range(12)], actor=CLERK)
            people = [str(o.receipt.person_id) for o in first if o.receipt]
            assert len(people) == 12
            # The registered path (prefetched people), and a retried dose (a duplicate).
            second = ledger.record_doses(
                [_dose(p, k) for k, p in enumerate(people)] + [_inline(0)], actor=CLERK
            )
            assert [o.status for o in second].count("created") == 12
        records = ledger.recorder.select_notifications(start=1, limit=10_000)
        ids = list(dict.fromkeys(r.originator_id for r in records))
        folded = {i: ledger.repository.get(i) for i in ids}
        events = [ledger.mapper.to_domain_event(r) for r in records]
        return [records, events], folded
    finally:
        ledger.close()


def _state_of(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def test_a_batch_stores_and_folds_the_same_through_the_lean_and_the_generic_path(
    store_url: str, another_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (lean_records, lean_events), lean_folded = _record(store_url, True, monkeypatch)
    (generic_records, generic_events), generic_folded = _record(another_store_url, False, monkeypatch)

    assert [r.topic for r in lean_records] == [r.topic for r in generic_records]
    assert {r.topic.rsplit(".", 1)[-1] for r in lean_records} >= {"Registered", "DoseRecorded", "Adopted"}
    assert [(r.originator_id, r.originator_version) for r in lean_records] == [
        (r.originator_id, r.originator_version) for r in generic_records
    ]
    for lean, generic in zip(lean_records, generic_records, strict=True):
        assert lean.state == generic.state, lean.topic
    # Opened (the people's sealed fields decrypted), the events are equal, chain digests too.
    assert [vars(e) for e in lean_events] == [vars(e) for e in generic_events]
    assert all(e.digest.startswith(chain.KEYED) for e in lean_events)
    assert lean_folded.keys() == generic_folded.keys()
    for stream, aggregate in lean_folded.items():
        assert type(aggregate) is type(generic_folded[stream])
        assert _state_of(aggregate) == _state_of(generic_folded[stream])


def test_the_lean_path_folds_as_a_replay_of_its_own_events(store_url: str) -> None:
    """What the lean path leaves in memory after deciding equals what reading it back makes."""
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    try:
        ws = ledger.doses.decisions.working_set()
        receipt = ledger.doses.take(ws, _report(_inline(1)), CLERK)
        decided = {a.id: _state_of(a) for a in ws.pending()}
        ledger.doses.decisions.save(*ws.pending())
        for stream, state in decided.items():
            assert _state_of(ledger.repository.get(stream)) == state
        person = ledger.repository.get(receipt.person_id)
        assert isinstance(person, Person) and len(person.doses) == 1
    finally:
        ledger.close()


def _report(fields: dict[str, Any]) -> Any:
    from ledger.recording import dose_report

    return dose_report(fields, None)


def test_the_lean_path_refuses_an_event_it_would_not_store_the_same() -> None:
    """Personal fields (their salt and digest are the chain's to add) or a field left out
    (the library would fill its default) go through the @event method, never the lean path."""
    with repeatable():
        person = Person.register(
            UUID(int=1),
            {
                "full_name": "A",
                "birth_date": "1980-01-01",
                "sex": None,
                "national_id": None,
                "phone": None,
                "province": "79",
                "district": None,
                "address": None,
            },
            "site",
            CLERK.as_data(),
            {"kind": "api"},
        )
        with pytest.raises(TypeError, match="lean path"):
            person._lean_event(
                Person.DetailsCorrected,
                changes={"phone": "1"},
                reason="r",
                actor=CLERK.as_data(),
                source={"kind": "api"},
            )
        with pytest.raises(TypeError, match="lean path"):
            person._lean_event(Person.DoseVoided, dose_id=UUID(int=2), reason="r", actor=CLERK.as_data())
    assert person.version == 1 and person.pending_events and len(person.pending_events) == 1
