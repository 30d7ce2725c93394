"""A store written before the site-record key table: its keys copied into the table.

Such a store holds each site's record as a `SiteRecord` stream (ledger.keys) whose `Claimed`
event names the dose, the person the site named and the content digest. At every start, the
claims stored after the position the last copy reached (store.site_records keeps it) are read
in the log's order, by topic, and their rows inserted 2,000 a transaction; then the position
moves to the head read at the start. Nothing is written to the event store. A process of the
earlier version still running during an upgrade keeps writing keys as events only: the next
start copies them (and the dose decision answers a retry of such a dose as the duplicate it
is, usecases.doses). A copy stopped halfway, or two processes starting at once, insert
nothing twice.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import get_topic

from ledger.keys import IdKey, SiteRecord
from store.site_records import SiteRecordKey, SiteRecordKeys

CHUNK = 2000  # claims copied per transaction


def copy_site_record_claims(recorder: Any, mapper: Any, ids: IdKey) -> int:
    """Copy the `SiteRecord.Claimed` events stored since the last copy into the key table, and
    keep how far it read; how many rows were new. Their digests, and those of rows the table's
    first version wrote, are keyed (IdKey.site_record_digest); the events' own stay as stored."""
    keys: SiteRecordKeys = recorder.site_records
    keys.migrations.keep_position()
    keys.key_plain_digests(ids.site_record_digest)
    after = keys.copied_up_to()
    head = recorder.max_notification_id() or 0
    if head <= after:
        return 0
    topics = [get_topic(SiteRecord.Claimed)]
    copied = 0
    start = after + 1
    while True:
        page = recorder.select_notifications(start, CHUNK, stop=head, topics=topics)
        chunk = []
        for stored in page:
            claim = mapper.to_domain_event(stored)
            chunk.append(
                SiteRecordKey(
                    stored.originator_id,
                    claim.person_id,
                    claim.site_id,
                    claim.site_record_id,
                    ids.site_record_digest(claim.content_digest),
                )
            )
        copied += keys.copy(chunk)
        if len(page) < CHUNK:
            break
        start = page[-1].id + 1
    keys.mark_copied(head)
    return copied
