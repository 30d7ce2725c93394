"""Which secret a store's keyed ids were made with, checked at every start.

The ids of the keys made from personal data (a national id's claim, an identity key, the
person of a site's record) are HMACs under the deployment's `ids` secret (ledger.keys.IdKey).
With another secret the ledger would find no one: every registration would make a second
person. So the store records the secret's fingerprint (`KeyedIds`), in the same transaction
as its first keyed id, and a ledger whose secret differs refuses to start.

The start reads one stream (the fingerprint); only a store without one is also asked for its
first key stream made the old way (a `LIMIT 1` read by topic). Writing the fingerprint with
the first key, rather than at the start, leaves a store that holds no key untouched, and a
second process that started with another secret on a store still empty finds out at its first
key, through the store's uniqueness, instead of writing keys no one can find again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.utils import get_topic

from ledger.keys import KEYED_IDS_ID, IdentityKey, IdKey, KeyedIds, NationalIdClaim
from store.secrets import Secrets

IDS_SECRET = "ids"  # the file `ids.key` in the secrets directory
# The first event of every key stream made from personal data: a store holding one of them
# without a fingerprint made its keys before they were keyed (a uuid5 anyone can recompute).
UNKEYED_TOPICS = (get_topic(NationalIdClaim.Claimed), get_topic(IdentityKey.Claimed))
_KEY_STREAMS = (NationalIdClaim, IdentityKey)


class StoreRefused(RuntimeError):
    """The ledger cannot run on this store with this secrets directory (an operator's fix)."""


class ForeignIdsSecret(StoreRefused):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"the ids secret in {path.parent} ({path.name}) is not the one this store was made with; "
            "restore it from the secrets backup (a new one would not find the people already stored)"
        )


class UnkeyedStore(StoreRefused):
    def __init__(self) -> None:
        super().__init__(
            "this store holds keys made before ids were keyed (a national id's claim or an identity "
            "key without a recorded ids secret); run `doseledger rekey` once, then start again"
        )


def recorded_fingerprint(app: Application[UUID]) -> str | None:
    """The fingerprint this store's keyed ids were made with (None: none recorded yet)."""
    try:
        record: KeyedIds = app.repository.get(KEYED_IDS_ID)
    except AggregateNotFoundError:
        return None
    return record.fingerprint


def holds_unkeyed_keys(app: Application[UUID]) -> bool:
    """Whether the store holds a key stream of personal data (one row read at most)."""
    return bool(app.recorder.select_notifications(start=1, limit=1, topics=UNKEYED_TOPICS))


class Adoption:
    """The ids key a ledger derives with, and whether its store has recorded it yet.

    `Decisions` hands each save to `records_with`: the first save that holds a key (a key
    table's row, or a stream of an older store's kind) carries the fingerprint with it, in the
    same transaction.
    """

    def __init__(self, app: Application[UUID], secrets: Secrets, key: IdKey, recorded: bool) -> None:
        self.app = app
        self.secrets = secrets
        self.key = key
        self.recorded = recorded

    @classmethod
    def open(cls, app: Application[UUID], secrets: Secrets, *, unkeyed_ok: bool = False) -> Adoption:
        """Check the store against the secret, or refuse (MissingSecret, StoreRefused); writes nothing.

        unkeyed_ok: a store with old-way keys is accepted (for `doseledger rekey` only), and so is
        a new secret for it.
        """
        fingerprint = recorded_fingerprint(app)
        if fingerprint is not None:
            key = IdKey(secrets.key(IDS_SECRET))  # MissingSecret, naming the file
            if key.fingerprint != fingerprint:
                raise ForeignIdsSecret(secrets.path(IDS_SECRET))
            return cls(app, secrets, key, True)
        if not unkeyed_ok and holds_unkeyed_keys(app):
            raise UnkeyedStore()
        # A new store (or one being rekeyed): nothing depends on a secret yet, so one is made
        # if there is none. Recorded only with the first key (records_with).
        return cls(app, secrets, IdKey(secrets.key(IDS_SECRET, create=True)), False)

    def records_with(self, aggregates: Sequence[Any], *, keyed_rows: bool = False) -> Sequence[Any]:
        """The aggregates to save, with the fingerprint first if this save is the store's first
        key: a key stream, or `keyed_rows` (rows of a key table under keyed ids, store.person_keys)."""
        if self.recorded or not (keyed_rows or any(isinstance(a, _KEY_STREAMS) for a in aggregates)):
            return aggregates
        return [KeyedIds.adopt(self.key.fingerprint), *aggregates]

    def saved(self, aggregates: Sequence[Any]) -> None:
        if not self.recorded and any(isinstance(a, KeyedIds) for a in aggregates):
            self.recorded = True

    def after_conflict(self) -> None:
        """A save lost a race: if another process recorded a fingerprint first, it must be ours."""
        if self.recorded:
            return
        fingerprint = recorded_fingerprint(self.app)
        if fingerprint is None:
            return
        if fingerprint != self.key.fingerprint:
            raise ForeignIdsSecret(self.secrets.path(IDS_SECRET))
        self.recorded = True

    def record(self) -> bool:
        """Record the fingerprint now (rekey's last step); False if it was already recorded."""
        if self.recorded:
            return False
        self.app.save(KeyedIds.adopt(self.key.fingerprint))
        self.recorded = True
        return True
