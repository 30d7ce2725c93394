"""Do the site-record key rows agree with the doses' own events?

The rows (store.site_records) are not in the event store's hash chain, yet they decide the site
of a dose's access check (dose_origin) and whom amending and voiding lead to. Each row is
checked against its dose's `DoseRecorded` event: its dose id is the one derived from its site
and site record id (ledger.keys.dose_id_for), its site is the dose's recorded site, and its
person is whom the site named (the stream's person, or the `named_person_id` a merge kept);
every recorded dose has its row, and every row its dose.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from ledger.keys import dose_id_for
from replay.fold import Decoded
from store.site_records import SiteRecordKey

_CHUNK = 500  # doses whose rows are read in one query


class KeyRowCheck:
    """Fed the person streams of a scan, the rows of their doses are read 500 at a time."""

    def __init__(self, keys: Any) -> None:
        self._keys = keys
        self._waiting: dict[UUID, tuple[str, UUID]] = {}  # dose → (site, named person)
        self._seen: set[UUID] = set()
        self.differences: list[dict[str, Any]] = []

    def stream(self, decoded: Iterable[Decoded]) -> None:
        for item in decoded:
            event = item.event
            if event is None or type(event).__name__ != "DoseRecorded":
                continue
            named = (getattr(event, "source", None) or {}).get("named_person_id")
            person = UUID(named) if named else event.originator_id
            self._waiting[UUID(str(event.dose_id))] = (event.site_id, person)
            if len(self._waiting) >= _CHUNK:
                self._check()

    def finish(self) -> list[dict[str, Any]]:
        """The differences found; rows whose dose no stream recorded among them."""
        self._check()
        for row in self._keys.every():
            if row.dose_id not in self._seen:
                self.differences.append(_difference(row, "key row names no recorded dose"))
        return self.differences

    def _check(self) -> None:
        rows = self._keys.find(self._waiting)
        for dose_id, (site_id, person) in self._waiting.items():
            self._seen.add(dose_id)
            row: SiteRecordKey | None = rows.get(dose_id)
            if row is None:
                detail = "recorded dose has no key row"
            elif dose_id_for(row.site_id, row.site_record_id) != dose_id:
                detail = "key row's site record is not the dose's"
            elif row.site_id != site_id:
                detail = "key row's site is not the dose's"
            elif row.person_id != person:
                detail = "key row's person is not whom the site named"
            else:
                continue
            self.differences.append(_difference(SiteRecordKey(dose_id, person, "", "", ""), detail))
        self._waiting = {}


def _difference(row: SiteRecordKey, detail: str) -> dict[str, Any]:
    # Named by the stream of whom the site named (the dose's, or the row's when no stream
    # recorded the dose), so that a stream's own finding explains its rows' (replay.verify).
    # Ids only: a site record id may carry what a site typed, so it is not repeated.
    return {
        "stream_id": str(row.person_id),
        "stream_type": "Person",
        "kind": "key_row",
        "dose_id": str(row.dose_id),
        "detail": detail,
    }
