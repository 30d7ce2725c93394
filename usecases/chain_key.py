"""The chain secret, read from the secrets folder and handed to the domain when a ledger starts.

Made only for a store that holds no keyed digest yet (a new store, or one whose events were all
chained before the chain had a secret): there, a new key is the first. Once the store's latest
event is keyed, a missing key is MissingSecret naming the file: a new key would make every
stored chain look forged, and new events chained with it unverifiable against the old ones.
"""

from __future__ import annotations

import logging
from typing import Any

from ledger.chain import is_keyed, use_chain_key
from store.event_store import stored_digest
from store.secrets import Secrets

CHAIN_KEY = "chain"
log = logging.getLogger(__name__)


def holds_keyed_digests(recorder: Any, mapper: Any) -> bool:
    """Whether the store's latest event is keyed (an unreadable one counts as keyed: a new
    secret is never made on a guess). Every event since the change is keyed, so the latest
    one says whether any is."""
    head = recorder.max_notification_id()
    if not head:
        return False
    latest = recorder.select_notifications(start=head, limit=1)
    if not latest:
        return True
    digest = stored_digest(mapper, latest[0].state)
    return digest is None or is_keyed(digest)


def hand_in_chain_key(recorder: Any, mapper: Any, secrets: Secrets) -> None:
    if use_chain_key(secrets.key(CHAIN_KEY, create=not holds_keyed_digests(recorder, mapper))):
        # The domain keys digests per process, not per ledger: one opened earlier on another
        # secrets folder now chains with this folder's key (its new events will not verify).
        log.warning(
            "a ledger on another secrets folder (%s) replaced this process's chain secret", secrets.directory
        )
