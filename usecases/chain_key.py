"""The chain secret, read from the secrets folder and handed to the domain when a ledger starts.

Made only for a store that holds no keyed digest yet (a new store, or one whose events were all
chained before the chain had a secret): there, a new key is the first. Once the store's latest
event is keyed, a missing key is MissingSecret naming the file: a new key would make every
stored chain look forged, and new events chained with it unverifiable against the old ones. A
key that chains none of the newest events (another deployment's) is ForeignChainSecret.
"""

from __future__ import annotations

import logging
from typing import Any

from ledger.chain import GENESIS, expected_digest, is_keyed, use_chain_key
from store.event_store import stored_digest
from store.secrets import SECRETS_KEY, Secrets
from usecases.keyed_ids import StoreRefused

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


class ForeignChainSecret(StoreRefused):
    """The chain secret does not give the store's latest event its digest: another deployment's."""

    def __init__(self, secrets: Secrets) -> None:
        super().__init__(
            f"the chain secret {secrets.path(CHAIN_KEY).name!r} in {secrets.directory} ({SECRETS_KEY}) is "
            "not the one this store's events were chained with: restore it from the secrets backup "
            "(events chained with another would never verify)"
        )


SAMPLE = 32  # the newest events looked at for one the key chains


def chains_recent_events(recorder: Any, mapper: Any, key: bytes) -> bool:
    """Whether `key` gives one of the store's newest keyed events the digest it carries (the
    newest first: two reads when it does). Another deployment's key chains none of them; a
    tampered tail fails some, and is `replay verify`'s to report, not the start's to refuse
    (an auditor's tools must start on a tampered store). Rows that carry no keyed digest, or no
    longer decode, tell nothing and are passed over; if none tells, the key is not refused."""
    head = recorder.max_notification_id() or 0
    newest = recorder.select_notifications(start=max(1, head - SAMPLE + 1), limit=SAMPLE) if head else []
    told = False
    for notification in reversed(newest):
        digest = stored_digest(mapper, notification.state)
        if digest is None or not is_keyed(digest):
            continue
        version = notification.originator_version
        rows = recorder.select_events(
            notification.originator_id, gt=version - 2 if version > 1 else None, lte=version
        )
        try:
            event = mapper.to_domain_event(rows[-1])
        except Exception:  # noqa: BLE001 - an unreadable row is the audit's to report, not the start's
            continue
        previous = stored_digest(mapper, rows[-2].state) if len(rows) == 2 else GENESIS
        if previous is None:
            continue
        if expected_digest(previous, event, key=key) == digest:
            return True
        told = True
    return not told


def hand_in_chain_key(recorder: Any, mapper: Any, secrets: Secrets) -> None:
    keyed = holds_keyed_digests(recorder, mapper)
    key = secrets.key(CHAIN_KEY, create=not keyed)
    if keyed and not chains_recent_events(recorder, mapper, key):
        raise ForeignChainSecret(secrets)
    if use_chain_key(key):
        # The domain keys digests per process, not per ledger: one opened earlier on another
        # secrets folder now chains with this folder's key (its new events will not verify).
        log.warning(
            "a ledger on another secrets folder (%s) replaced this process's chain secret", secrets.directory
        )
