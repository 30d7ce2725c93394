"""Audit: how any record reached its current state, read from the stored events alone.

Every function takes the ledger application (`usecases.application.DoseLedger`) and returns plain
JSON-ready values, so an HTTP endpoint returns them as they are. Bad input raises the ledger's
own errors (`InvalidValue`, `PersonNotFound`), each naming its field.

    history(ledger, person_id)                      every event with the state after it
    state_as_of(ledger, person_id, version=|recorded_at=)   the person as known then
    diff(ledger, person_id, from_, to)              what changed between two points
    explain_certificate(ledger, person_id)          each certificate line and its events
    verify_integrity(ledger, stream_id)             the digest chain of one stream
    verify(ledger, person_id, views=None, anchors=None)   chain, fold, ledger, certificate view, anchor
    verify_all(ledger, views=None, progress=None, anchors=None)   the same over the whole store
      (and against the latest signed anchor in the folder `anchors`, replay.anchoring)
    parse_as_of(text)                               "7" → version 7; ISO time/date → recorded time
"""

from replay.explain import explain_certificate
from replay.history import AsOf, diff, history, parse_as_of, state_as_of
from replay.integrity import verify_integrity
from replay.verify import compare_certificate, verify, verify_all

__all__ = [
    "AsOf",
    "compare_certificate",
    "diff",
    "explain_certificate",
    "history",
    "parse_as_of",
    "state_as_of",
    "verify",
    "verify_all",
    "verify_integrity",
]
