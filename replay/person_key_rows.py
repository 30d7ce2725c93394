"""Do the people's key rows agree with the people's own events?

The rows (store.person_keys) are not in the event store's hash chain, yet they decide whom a
registration, a dose's inline person or a retro import's row is found as. Each key's rows are
checked against the people whose details give its key (under the ledger's ids secret), and
numbered 1, 2, … with no gap. A national id's holder (its last row) is a person whose details
carry it (not erased), and every open person (neither merged nor erased) with a national id
holds it, or a person merged into them does. An identity key lists every person not erased
whose name, birth date and phone give it, and no one else (an erased person stays listed:
the key cannot be told from what was erased). Differences name ids only.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from store.person_keys import listed_after

_MERGES_FOLLOWED = 16  # as usecases.people: a longer chain is a loop


class PersonKeyRowCheck:
    """Fed each person's final state during a scan, then every row once at the end."""

    def __init__(self, recorder: Any, ids: Any) -> None:
        self._rows = recorder.national_ids  # store.person_keys.PersonKeys
        self._identities = recorder.identities
        self._ids = ids  # ledger.keys.IdKey: what a person's details are keyed as
        self._key = ids.national_id
        self._carried: dict[UUID, set[UUID]] = {}  # key → the people whose details carry it
        self._open: dict[UUID, UUID] = {}  # open person → their national id's key
        self._merged_into: dict[UUID, UUID] = {}
        self._named: dict[UUID, set[UUID]] = {}  # identity key → the people whose details give it
        self._erased: set[UUID] = set()

    def person(self, person_id: UUID, state: dict[str, Any] | None) -> None:
        if state is not None and state.get("erased"):
            self._erased.add(person_id)
        if state is None or state.get("erased"):
            return
        details = state.get("details") or {}
        if details.get("full_name") and details.get("birth_date"):
            key = self._ids.identity(details["full_name"], details["birth_date"], details.get("phone"))
            self._named.setdefault(key, set()).add(person_id)
        if state.get("merged_into"):
            self._merged_into[person_id] = UUID(str(state["merged_into"]))
        national_id = (state.get("details") or {}).get("national_id")
        if not national_id:
            return
        key = self._key(national_id)
        self._carried.setdefault(key, set()).add(person_id)
        if not state.get("merged_into"):
            self._open[person_id] = key

    def finish(self) -> list[dict[str, Any]]:
        differences: list[dict[str, Any]] = []
        holders: dict[UUID, UUID | None] = {}
        expected: dict[UUID, int] = {}
        for row in self._rows.every():
            if row.seq != expected.get(row.key, 0) + 1:
                differences.append(
                    _difference(row.person_id, row.key, "the national id's rows skip a number")
                )
            expected[row.key] = row.seq
            holders[row.key] = row.person_id
        for key, holder in holders.items():
            if holder is not None and holder not in self._carried.get(key, ()):
                differences.append(
                    _difference(holder, key, "national id row names a person who does not carry it")
                )
        for person_id, key in self._open.items():
            holder = holders.get(key)
            if holder is None or not self._leads_to(holder, person_id):
                differences.append(
                    _difference(person_id, key, "the person's national id is not held by them")
                )
        return differences + self._identity_differences()

    def _identity_differences(self) -> list[dict[str, Any]]:
        differences: list[dict[str, Any]] = []
        listed: dict[UUID, list[UUID]] = {}
        expected: dict[UUID, int] = {}
        for row in self._identities.every():
            if row.seq != expected.get(row.key, 0) + 1:
                differences.append(
                    _difference(row.person_id, row.key, "the identity key's rows skip a number")
                )
            expected[row.key] = row.seq
            listed[row.key] = listed_after(listed.get(row.key, []), row)
        for key, members in listed.items():
            for person_id in members:
                if person_id not in self._erased and person_id not in self._named.get(key, ()):
                    differences.append(
                        _difference(person_id, key, "identity key lists a person not named so")
                    )
        for key, people in self._named.items():
            for person_id in people - set(listed.get(key, ())):
                differences.append(
                    _difference(person_id, key, "the person is not listed under their identity key")
                )
        return differences

    def _leads_to(self, holder: UUID, person_id: UUID) -> bool:
        for _ in range(_MERGES_FOLLOWED):
            if holder == person_id:
                return True
            next_one = self._merged_into.get(holder)
            if next_one is None:
                return False
            holder = next_one
        return False


def _difference(person_id: UUID | None, key: UUID, detail: str) -> dict[str, Any]:
    # Named by the person's stream, so that a stream's own finding explains its rows'
    # (replay.verify); a row naming no one by its key.
    return {
        "stream_id": str(person_id if person_id is not None else key),
        "stream_type": "Person" if person_id is not None else "PersonKey",
        "kind": "person_key_row",
        "key": str(key),
        "detail": detail,
    }
