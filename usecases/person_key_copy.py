"""A store written before the people's key tables: its key streams copied into the tables.

Such a store holds each national id's claim as a `NationalIdClaim` stream (ledger.keys): a
`Claimed` event, then a `Reassigned` one at each change of holder; and each identity key as an
`IdentityKey` stream: `Claimed`, then `Joined` and `Left`. At every start, the events stored
after the position the last copy of that table reached are read in the log's order, by topic,
and each becomes the row of its version (store.person_keys: seq = the event's version), 2,000
a transaction; then the position moves to the head read at the start. Nothing is written to
the event store, and no lock is taken: a row is the same whoever copies it, so a copy stopped
halfway, or two processes starting at once, insert nothing twice (ON CONFLICT DO NOTHING).

A reassignment's or a leaving's free-text reason is not copied (a row outlives an erasure, and
a reason may name someone): it becomes a word of store.person_keys.REASONS. Keys made before
ids were keyed (a uuid5 of the personal data, which `doseledger rekey` made again under keyed
ids) are not copied: no one looks them up, and the tables keep no id anyone can recompute.

A process of the earlier version still running after a new one started writes its keys as
events only, which the new one does not read: stop the old processes before starting the new
(README, "Upgrading a store"); the next start copies what they wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.utils import get_topic

from ledger.keys import IdentityKey, NationalIdClaim
from store.person_keys import CLAIMED, COPIED, CORRECTED, ERASED, JOINED, LEFT, RECLAIMED, KeyRow, PersonKeys

CHUNK = 2000  # events copied per transaction
TOPICS = (get_topic(NationalIdClaim.Claimed), get_topic(NationalIdClaim.Reassigned))
IDENTITY_TOPICS = (
    get_topic(IdentityKey.Claimed),
    get_topic(IdentityKey.Joined),
    get_topic(IdentityKey.Left),
)
_KEYED_VERSION = 8  # ledger.keys._keyed: a keyed id is a version-8 UUID


def copy_person_keys(recorder: Any, mapper: Any) -> int:
    """Copy the national ids' and identity keys' events stored since the last copy into their
    tables, and keep how far each read; how many rows were new."""
    national: PersonKeys = recorder.national_ids
    identities: PersonKeys = recorder.identities
    copied = national.at_start(lambda: _copy(recorder, mapper, national, TOPICS, _claim_row))
    return copied + identities.at_start(
        lambda: _copy(recorder, mapper, identities, IDENTITY_TOPICS, _listed_row)
    )


def _copy(
    recorder: Any, mapper: Any, rows: PersonKeys, topics: tuple[str, ...], row_of: Callable[[Any], KeyRow]
) -> int:
    after = rows.copied_up_to()
    head = recorder.max_notification_id() or 0
    if head <= after:
        return 0
    copied = 0
    start = after + 1
    while True:
        page = recorder.select_notifications(start, CHUNK, stop=head, topics=list(topics))
        events = [mapper.to_domain_event(stored) for stored in page]
        chunk = [row_of(e) for e in events if e.originator_id.version == _KEYED_VERSION]
        copied += rows.copy(chunk)
        if len(page) < CHUNK:
            break
        start = page[-1].id + 1
    rows.mark_copied(head)
    return copied


def _claim_row(event: Any) -> KeyRow:
    if type(event).__name__ == "Claimed":
        return KeyRow(event.originator_id, event.originator_version, event.person_id, CLAIMED)
    # The reasons the code before the table gave: "erased" (usecases.erasure), "claimed by a
    # registration" (a released id claimed again); a correction gave its official's reason.
    if event.reason == "erased":
        reason = ERASED
    elif event.person_id is None:
        reason = CORRECTED
    elif event.reason == "claimed by a registration":
        reason = RECLAIMED
    else:
        reason = COPIED
    return KeyRow(event.originator_id, event.originator_version, event.person_id, reason)


def _listed_row(event: Any) -> KeyRow:
    """An identity key's event: its `Claimed` and `Joined` list a person, `Left` takes one off."""
    left = type(event).__name__ == "Left"
    return KeyRow(event.originator_id, event.originator_version, event.person_id, LEFT if left else JOINED)
