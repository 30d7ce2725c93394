"""Anchors of the ledger: write one of the store as it stands, check the store against one.

An anchor (store.anchors) holds every stream's head at a position, signed. Checked against
the latest one, stream by stream, as `verify --all` reads them:

- deleted: a stream the anchor lists is gone from the store;
- truncated: the stream's last version is below the anchored one (its tail was removed);
- rechained: the event at the anchored version carries another digest than the anchored head
  (the stream was rewritten with recomputed digests, plain or with another key, or its
  anchored head replaced);
- anchor: the anchor itself does not check (Merkle root, signature, public key, unreadable).

What happens after the anchor's position is the chain's to check (replay.integrity).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from store.anchors import Anchor, AnchorError, AnchorFolder, Head, anchor_problems, public_pem, signing_key
from store.event_store import StoredRecord, stored_digest
from store.secrets import Secrets

ANCHOR_KEY = "anchor"
DELETED, TRUNCATED, RECHAINED, ANCHOR = "deleted", "truncated", "rechained", "anchor"


def take_anchor(ledger: Any, folder: AnchorFolder, secrets: Secrets, now: datetime | None = None) -> Anchor:
    """Sign and store the heads of every stream, read at one moment."""
    position, records = ledger.recorder.stream_heads()
    heads = [
        Head(str(r.originator_id), r.originator_version, stored_digest(ledger.mapper, r.state) or "")
        for r in records
    ]
    return folder.write(position, heads, signing_key(secrets.key(ANCHOR_KEY, create=True)), now)


@dataclass
class AnchorCheck:
    """The store, stream after stream, against one anchor; `finish()` adds what never showed."""

    anchor: Anchor
    mapper: Any
    _expected: dict[str, Head] = field(init=False)
    _seen: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self._expected = self.anchor.heads_by_stream()

    def stream(self, records: list[StoredRecord]) -> list[dict[str, Any]]:
        """Differences for one stream's stored records (in version order)."""
        sid = str(records[0].originator_id)
        self._seen.add(sid)
        head = self._expected.get(sid)
        if head is None:
            return []  # a stream begun after the anchor
        last = records[-1].originator_version
        at = next((r for r in records if r.originator_version == head.version), None)
        if last < head.version:
            return [
                _difference(
                    TRUNCATED,
                    head.version,
                    f"the anchor {self.anchor.name} has this stream at version {head.version}; the "
                    f"store's last is {last}: its last {head.version - last} event(s) were removed",
                )
            ]
        if at is None:
            return []  # a gap at the anchored version: the chain reports the removed event
        digest = stored_digest(self.mapper, at.state)
        if digest != head.digest:
            return [
                _difference(
                    RECHAINED,
                    head.version,
                    f"the event at the anchored version carries another digest than the anchor "
                    f"{self.anchor.name} holds: the stream was rewritten with recomputed digests",
                )
            ]
        return []

    def finish(self) -> list[dict[str, Any]]:
        """Every anchored stream that no longer exists."""
        return [
            {
                "stream_id": sid,
                "stream_type": None,
                **_difference(
                    DELETED,
                    head.version,
                    f"the anchor {self.anchor.name} lists this stream at version {head.version}; "
                    "the store has no event of it: the stream was deleted",
                ),
            }
            for sid, head in sorted(self._expected.items())
            if sid not in self._seen
        ]


def latest_anchor(folder: AnchorFolder, secrets: Secrets) -> tuple[Anchor | None, list[dict[str, Any]]]:
    """The latest anchor and what is wrong with it (each a difference of the whole store).

    Its signature is checked with the public key beside the anchors; when this process holds
    the anchor secret, that public key must be the secret's own (a key swapped in by whoever
    re-signed a forged anchor is a finding)."""
    try:
        anchor = folder.latest()
        public = folder.public_key()
    except AnchorError as e:
        return None, [_store_wide(str(e))]
    if anchor is None:
        return None, []
    problems = anchor_problems(anchor, public)
    if public is not None and secrets.exists(ANCHOR_KEY):
        own = signing_key(secrets.key(ANCHOR_KEY)).public_key()
        if public_pem(own) != public_pem(public):
            problems.append("the public key beside the anchors is not this deployment's anchor key")
    return anchor, [_store_wide(f"the anchor {anchor.name}: {p}") for p in problems]


def anchor_summary(anchor: Anchor) -> dict[str, Any]:
    return {
        "name": anchor.name,
        "written_at": anchor.written_at,
        "position": anchor.position,
        "streams": len(anchor.heads),
        "merkle_root": anchor.merkle_root,
    }


def _difference(finding: str, version: int, detail: str) -> dict[str, Any]:
    return {"kind": "anchor", "finding": finding, "version": version, "position": None, "detail": detail}


def _store_wide(detail: str) -> dict[str, Any]:
    return {"stream_id": "", "stream_type": None, **_difference(ANCHOR, 0, detail)}
