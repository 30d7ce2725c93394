"""What events store is a contract: the bytes written today equal the bytes frozen earlier."""

from __future__ import annotations

from tests.stored_states import frozen, repeatable, stored_states, write_every_event


def test_every_use_case_stores_the_same_state_bytes_as_before(ledger):
    with repeatable():
        write_every_event(ledger)
    written = stored_states(ledger)
    expected = frozen()
    assert [topic for topic, _ in written] == [topic for topic, _ in expected]
    for (topic, state), (_, frozen_state) in zip(written, expected, strict=True):
        assert (topic, state) == (topic, frozen_state)
