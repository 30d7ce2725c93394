"""What the event store holds, read straight from its notification log (no projection involved)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any


def stored_events(ledger: Any) -> list[tuple[str, dict[str, Any]]]:
    """(topic, state) of every stored event, in position order."""
    events, start = [], 1
    while True:
        page = ledger.recorder.select_notifications(start, 5000)
        events += [(n.topic, json.loads(bytes(n.state))) for n in page]
        if len(page) < 5000:
            return events
        start = page[-1].id + 1


def doses_by_site_record(ledger: Any) -> Counter[tuple[str, str]]:
    """How many DoseRecorded events each (site_id, site_record_id) has in the store."""
    return Counter(
        (state["source"]["site_id"], state["source"]["site_record_id"])
        for topic, state in stored_events(ledger)
        # a site's JSON records and the standard feeds' (intake/feeds.py) name their site record
        if topic.endswith("DoseRecorded") and state["source"].get("kind") in ("site", "feed")
    )


def site_record_claims(ledger: Any) -> Counter[tuple[str, str]]:
    """How many site-record keys each (site_id, site_record_id) has (store.site_records): a dose
    written without its key, or a key without its dose, would be half a write."""
    return Counter((key.site_id, key.site_record_id) for key in ledger.recorder.site_records.every())
