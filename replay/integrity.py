"""Was anything changed behind the ledger's back? Recompute each stream's digest chain.

Every event carries digest(n) = "h1:" + HMAC(chain secret, digest(n-1) + content(n)), or plain
sha256 for events stored before the chain had a secret, the content covering the stream id,
version, type, recorded time and data (ledger.chain); each row is checked by the rule its own
digest names, and a plain digest after a keyed one is a finding (downgraded): in its stream, and
across the store after the store's first keyed digest (KeyedSince, for verify --all). Checked from the stored rows
alone, in stored version order:

- a row whose digest follows from the row before it is intact;
- otherwise we look for the predecessor and version it *was* written with, among the
  stream's own digests. Found: the row is genuine but stands elsewhere than it was written
  (reordered, or renumbered around an insertion or a removal). Not found: its content changed
  since (altered), or what it was chained to is gone (removed);
- a row that cannot be decoded at all is altered; a digest seen twice is a copied row;
- a row whose personal fields (sealed, ledger.personal) open to other values than its
  `personal_digest` covers is altered; once they are erased only their digest is checked.

What a chain alone cannot show: the last events of a stream removed, a whole stream deleted,
or a stream rewritten with fresh digests (plain ones throughout, or by someone holding the chain
secret). A signed anchor of every stream's head, kept outside the database, shows those up to
its position (replay.anchoring).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger.chain import GENESIS, expected_digest, is_keyed, personal_digest_holds
from ledger.recording import as_uuid
from replay.fold import Decoded, decode
from store.event_store import StoredRecord, stored_digest

ALTERED, REMOVED, INSERTED, REORDERED, RENUMBERED, UNVERIFIED, DOWNGRADED = (
    "altered",
    "removed",
    "inserted",
    "reordered",
    "renumbered",
    "unverified",
    "downgraded",
)
WINDOW = 8  # how far from its stored version a moved row's original version is looked for


@dataclass(frozen=True)
class Finding:
    version: int  # the stored version at fault; for "removed", the version that is missing
    kind: str
    detail: str
    position: int | None = None  # the row's notification id, when there is a row

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "kind": self.kind, "detail": self.detail, "position": self.position}


@dataclass
class _Row:
    item: Decoded
    digest: str | None
    linked: bool = False  # follows from the row stored before it
    written_as: int | None = None  # the version it was written with, when found elsewhere
    predecessor: str | None = None  # the digest it was chained to, when found

    @property
    def version(self) -> int:
        return self.item.record.originator_version


def verify_integrity(ledger: Any, stream_id: UUID | str) -> dict[str, Any]:
    """The chain of one stream (a person, a site, a key), from its stored rows."""
    sid = as_uuid(stream_id, "stream_id")
    records = ledger.recorder.select_streams([sid])
    return stream_report(sid, records, check_chain(decode(ledger.mapper, records), ledger.mapper))


def stream_report(stream_id: UUID, records: list[StoredRecord], findings: list[Finding]) -> dict[str, Any]:
    return {
        "stream_id": str(stream_id),
        "events": len(records),
        "head_version": records[-1].originator_version if records else 0,
        "intact": not findings,
        "findings": [f.as_dict() for f in findings],
    }


def check_chain(decoded: list[Decoded], mapper: Any = None) -> list[Finding]:
    """Findings for one stream's rows (in stored version order); none when the chain holds."""
    rows = _linked(decoded, mapper)
    findings: dict[int, Finding] = {}  # by index of the row (or -version for removed ones)

    def note(index: int, kind: str, detail: str) -> None:
        row = rows[index]
        findings.setdefault(index, Finding(row.version, kind, detail, row.item.record.position))

    copies = _copies(rows, note)
    _skipped(rows, copies, note)
    _removed(rows, findings)
    for i, row in enumerate(rows):
        if row.item.event is None:
            note(i, ALTERED, f"the stored row {row.item.error}")
        elif row.predecessor is None:
            note(i, *_unchained(rows, i))
        elif personal_digest_holds(row.item.event) is False:
            note(i, ALTERED, "its personal fields, opened, no longer match their personal_digest")
    _moved(rows, copies, note)
    _downgraded(rows, note)
    return sorted(findings.values(), key=lambda f: (f.version, f.kind))


def _linked(decoded: list[Decoded], mapper: Any) -> list[_Row]:
    """Each row linked to the one before it, or else placed where its digest says it was written."""
    rows = [_Row(item, _digest_of(item, mapper)) for item in decoded]
    known = [GENESIS] + [r.digest for r in rows if r.digest]
    for i, row in enumerate(rows):
        event = row.item.event
        if event is None:
            continue
        previous = GENESIS if i == 0 else rows[i - 1].digest
        if previous is not None and expected_digest(previous, event, row.version) == row.digest:
            row.linked, row.written_as, row.predecessor = True, row.version, previous
        else:
            row.written_as, row.predecessor = _written_as(event, row, known)
    return rows


def _copies(rows: list[_Row], note: Callable[[int, str, str], None]) -> set[int]:
    """The same digest on two rows: one is genuine (the one in its place, if any), the other a copy."""
    copies: set[int] = set()
    by_digest: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if row.digest:
            by_digest.setdefault(row.digest, []).append(i)
    for same in (ix for ix in by_digest.values() if len(ix) > 1):
        genuine = min(same, key=lambda k: (not rows[k].linked, rows[k].written_as != rows[k].version, k))
        for k in same:
            if k != genuine:
                copies.add(k)
                note(
                    k,
                    INSERTED,
                    f"a copy of the row at version {rows[genuine].version} (same digest), stored again",
                )
    return copies


def _skipped(rows: list[_Row], copies: set[int], note: Callable[[int, str, str], None]) -> None:
    """Rows a genuine row's chain passes over, fitting nowhere in it themselves, were put there."""
    index_of = {r.digest: i for i, r in enumerate(rows) if r.digest and i not in copies}
    for i, row in enumerate(rows):
        if row.predecessor is None or row.linked or i in copies:
            continue
        j = index_of.get(row.predecessor, -1) if row.predecessor != GENESIS else -1
        for k in range(j + 1, i):
            if rows[k].predecessor is None:
                note(
                    k,
                    INSERTED,
                    f"not part of the chain: the genuine row after it (version "
                    f"{row.version}) is chained past it",
                )


def _digest_of(item: Decoded, mapper: Any) -> str | None:
    """The digest a row carries, read raw if the event itself cannot be built."""
    if item.event is not None:
        return getattr(item.event, "digest", None)
    if mapper is None:
        return None
    return stored_digest(mapper, item.record.state)


def _written_as(event: Any, row: _Row, known: list[str]) -> tuple[int | None, str | None]:
    """The (version, predecessor digest) this event was written with, if any stored one fits."""
    candidates = range(max(1, row.version - WINDOW), row.version + WINDOW + 1)
    for previous in known:
        if previous == row.digest:
            continue
        for version in (1,) if previous == GENESIS else candidates:
            if expected_digest(previous, event, version) == row.digest:
                return version, previous
    return None, None


def _removed(rows: list[_Row], findings: dict[int, Finding]) -> None:
    """Missing stored versions (gaps) are removed events."""
    expected = 1
    for row in rows:
        for missing in range(expected, row.version):
            findings[-missing] = Finding(
                missing, REMOVED, "no row has this version: the event was deleted from the store"
            )
        expected = max(expected, row.version + 1)


def _unchained(rows: list[_Row], i: int) -> tuple[str, str]:
    """A readable row whose digest fits no predecessor: altered, or its predecessor is gone."""
    row = rows[i]
    before = rows[i - 1] if i else None
    after = rows[i + 1] if i + 1 < len(rows) else None
    if before is None and row.version > 1 or before is not None and row.version > before.version + 1:
        return UNVERIFIED, "follows a removed event: its own content cannot be checked"
    if before is not None and before.digest is None:
        return UNVERIFIED, "follows an unreadable row: its own content cannot be checked"
    if after is not None and after.predecessor == row.digest and after.written_as is not None:
        shift = after.written_as - after.version
        if shift > 0:
            return REMOVED, (
                f"{shift} event(s) before this one were deleted and the later ones "
                "renumbered to close the gap; this row's own content cannot be checked"
            )
        return ALTERED, (
            f"its content no longer matches its digest, which version {after.version} "
            f"is chained to (or version {before.version if before else 0} was "
            "rewritten with a recomputed digest)"
        )
    return ALTERED, (
        "its digest follows from neither its content nor any stored predecessor: "
        "edited, forged or appended outside the ledger"
    )


def _downgraded(rows: list[_Row], note: Callable[[int, str, str], None]) -> None:
    """A plain digest after a keyed one: the ledger never goes back to the unkeyed rule, so
    the row was digested by someone without the chain secret."""
    keyed_from = next((r.version for r in rows if r.digest and is_keyed(r.digest)), None)
    if keyed_from is None:
        return
    for i, row in enumerate(rows):
        if row.version > keyed_from and row.digest and not is_keyed(row.digest):
            note(
                i,
                DOWNGRADED,
                f"a plain sha256 digest after the keyed chain began (version {keyed_from}): "
                "digested without the chain secret",
            )


class KeyedSince:
    """Across the whole store: the ledger keys every digest it writes from the moment it has a
    chain secret, so a plain digest stored at a later position than the store's first keyed one
    was made without the secret, whatever stream it is in (a stream re-chained with plain
    digests throughout shows no downgrade of its own)."""

    def __init__(self) -> None:
        self.first_keyed: int | None = None
        # stream → (position, version, stream type) of its last plain row
        self._plain: dict[UUID, tuple[int, int, str]] = {}

    def stream(self, decoded: list[Decoded], stream_type: str) -> None:
        for item in decoded:
            digest = getattr(item.event, "digest", None)
            position = item.record.position
            if not isinstance(digest, str):
                continue
            if is_keyed(digest):
                if self.first_keyed is None or position < self.first_keyed:
                    self.first_keyed = position
            else:
                # Every stream's last plain row, whatever the first keyed position seen so far:
                # streams come in id order, not position order, so a keyed row found later may
                # lie before this one.
                self._plain[item.record.originator_id] = (
                    position,
                    item.record.originator_version,
                    stream_type,
                )

    def findings(self) -> list[tuple[UUID, str, Finding]]:
        """(stream, its type, finding) for each stream with a plain digest after the first keyed one."""
        first = self.first_keyed
        if first is None:
            return []
        return [
            (
                stream,
                stream_type,
                Finding(
                    version,
                    DOWNGRADED,
                    f"a plain sha256 digest stored at position {position}, after the store's first "
                    f"keyed digest (position {first}): digested without the chain secret",
                    position,
                ),
            )
            for stream, (position, version, stream_type) in sorted(self._plain.items())
            if position > first
        ]


def _moved(rows: list[_Row], copies: set[int], note: Callable[[int, str, str], None]) -> None:
    """Genuine rows stored at another version than written: swapped, or shifted by an edit."""
    placed = [(i, r.written_as) for i, r in enumerate(rows) if r.written_as is not None and i not in copies]
    for n, (i, written) in enumerate(placed):
        row = rows[i]
        if written == row.version:
            continue
        inverted = any(w > written for _, w in placed[:n]) or any(w < written for _, w in placed[n + 1 :])
        if inverted:
            note(i, REORDERED, f"written as version {written}, stored as version {row.version}")
        else:
            note(
                i,
                RENUMBERED,
                f"written as version {written}, stored as version {row.version} "
                "(the rows around it were removed or inserted)",
            )
