"""Rows changed behind the ledger's back, with SQL, on each store: the chain says which and how."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from ledger.chain import GENESIS, chain_digest
from replay import verify_all, verify_integrity
from tests.test_ledger import dose, lan


@pytest.fixture
def lan_id(ledger) -> UUID:
    """Lan: registered (version 1), then four doses (versions 2 to 5)."""
    pid = ledger.register_person(lan()).person_id
    for n, day in enumerate(["2021-03-01", "2021-04-01", "2021-05-01", "2021-06-01"]):
        dose(ledger, pid, f"R{n}", administered_at=day)
    return pid


def findings(ledger, stream) -> list[tuple[int, str]]:
    report = verify_integrity(ledger, stream)
    assert report["intact"] == (not report["findings"])
    return [(f["version"], f["kind"]) for f in report["findings"]]


def test_an_untouched_record_is_intact(ledger, lan_id):
    report = verify_integrity(ledger, lan_id)
    assert report == {
        "stream_id": str(lan_id),
        "events": 5,
        "head_version": 5,
        "intact": True,
        "findings": [],
    }


def test_a_dose_edited_in_place_is_reported_altered_at_its_version(ledger, lan_id, rows):
    rows.edit(lan_id, 3, vaccine="EU/1/21/1529")  # Pfizer quietly becomes AstraZeneca
    assert findings(ledger, lan_id) == [(3, "altered")]
    position = verify_integrity(ledger, lan_id)["findings"][0]["position"]
    assert (
        position
        == [
            r
            for r in ledger.recorder.select_notifications(1, 100)
            if r.originator_id == lan_id and r.originator_version == 3
        ][0].id
    )


def test_a_row_that_no_longer_decodes_is_altered_and_the_next_cannot_be_checked(ledger, lan_id, rows):
    rows.put_state(lan_id, 3, b"\x00 not json")
    assert findings(ledger, lan_id) == [(3, "altered"), (4, "unverified")]


def test_an_event_given_another_type_is_altered(ledger, lan_id, rows):
    rows.set_topic(lan_id, 3, "ledger.person:Person.DoseVoided")
    assert findings(ledger, lan_id) == [(3, "altered")]


def test_a_deleted_row_leaves_a_version_gap_reported_removed(ledger, lan_id, rows):
    rows.delete(lan_id, 3)
    assert findings(ledger, lan_id) == [(3, "removed"), (4, "unverified")]


def test_a_deleted_row_with_the_gap_closed_is_still_reported_removed(ledger, lan_id, rows):
    rows.delete(lan_id, 3)
    rows.shift(lan_id, 4, -1)  # versions 4, 5 become 3, 4: no gap left
    assert findings(ledger, lan_id) == [(3, "removed"), (4, "renumbered")]


def test_a_forged_dose_slipped_into_the_middle_is_reported_inserted(ledger, lan_id, rows):
    topic, state = rows.row(lan_id, 3)
    rows.shift(lan_id, 3, +1)  # make room: versions 3..5 become 4..6
    rows.insert(
        lan_id,
        3,
        topic,
        {**state, "dose_id": {"_type_": "uuid_hex", "_data_": "ab" * 16}, "digest": "cd" * 32},
    )
    assert findings(ledger, lan_id) == [
        (3, "inserted"),
        (4, "renumbered"),
        (5, "renumbered"),
        (6, "renumbered"),
    ]


def test_a_copied_dose_appended_is_reported_inserted(ledger, lan_id, rows):
    topic, state = rows.row(lan_id, 4)
    rows.insert(
        lan_id,
        6,
        topic,
        {**state, "administered_at": "2021-09-01", "dose_id": {"_type_": "uuid_hex", "_data_": "ab" * 16}},
    )
    assert findings(ledger, lan_id) == [(6, "inserted")]


def test_two_rows_swapped_are_reported_reordered(ledger, lan_id, rows):
    rows.swap(lan_id, 3, 4)
    assert findings(ledger, lan_id) == [(3, "reordered"), (4, "reordered")]


def test_an_edit_with_a_recomputed_digest_breaks_the_link_to_the_next_event(ledger, lan_id, rows):
    """Someone who knows the scheme re-digests the row they edit: the next row's link breaks."""
    _, previous = rows.row(lan_id, 2)
    topic, state = rows.row(lan_id, 3)
    forged = {**state, "lot": "FORGED"}
    data = {k: v for k, v in forged.items() if k not in ("timestamp", "digest")}
    data["dose_id"] = UUID(data["dose_id"]["_data_"])
    [event] = ledger.events.get(lan_id, gt=2, lte=3)
    forged["digest"] = chain_digest(previous["digest"], lan_id, 3, topic, event.timestamp, data)
    rows.put_state(lan_id, 3, json.dumps(forged).encode())
    report = verify_integrity(ledger, lan_id)
    assert [(f["version"], f["kind"]) for f in report["findings"]] == [(4, "altered")]
    assert "version 3 was rewritten" in report["findings"][0]["detail"]


def test_the_first_event_chains_from_genesis(ledger, lan_id, rows):
    _, registered = rows.row(lan_id, 1)
    assert registered["digest"] != GENESIS
    rows.delete(lan_id, 1)
    assert findings(ledger, lan_id) == [(1, "removed"), (2, "unverified")]


def test_verify_all_finds_the_one_tampered_stream_among_all(ledger, lan_id, rows):
    other = ledger.register_person(lan(national_id=None, full_name="Trần Văn Hùng")).person_id
    dose(ledger, other, "H1")
    calls = []
    clean = verify_all(ledger, progress=lambda done, total: calls.append((done, total)))
    assert clean["consistent"] and clean["people"] == 2
    # two people, one provisional site, and which ids secret made the keys (the dose keys, the
    # national ids and the name/birth/phone keys retro imports match on are rows of tables)
    assert clean["by_type"] == {
        "Person": 2,
        "Site": 1,
        "KeyedIds": 1,
    }
    assert calls[-1] == (clean["events"], clean["events"]) == (ledger.head(),) * 2

    rows.edit(other, 2, lot="CHANGED")
    report = verify_all(ledger)
    assert not report["consistent"]
    assert [(d["stream_id"], d["kind"], d["finding"], d["version"]) for d in report["differences"]] == [
        (str(other), "integrity", "altered", 2)
    ]
