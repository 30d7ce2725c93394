"""Receiving HL7 v2: bytes in (a message or a batch), one ACK per message out, in order.

What `POST /v1/hl7v2`, `doseledger hl7 FILE` and the MLLP listener call:

    receive(ledger, data, actor, allowed_sites=..., default_province=..., test_codes=...)
        → [Acknowledgement(number, control_id, code, ack, outcomes)]

A message is booked whole or not at all: a message with a refused record stores nothing
(AE), and a message naming a site outside the sender's scope is rejected (AR). Good messages
of one RXA are booked together in one transaction through `intake.feeds.book`; a message of
several is booked on its own, in its place, after the messages before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from intake.feeds import NO_DOSE, REFUSED, FeedIssue, Outcome, book
from intake.hl7v2.ack import AA, AE, AR, ack_code, build_ack
from intake.hl7v2.mapping import MappedMessage, map_message
from intake.hl7v2.reading import FALLBACK, RawMessage, read_messages
from ledger.values import Actor
from usecases.application import DoseLedger

MEDIA_TYPE = "application/hl7-v2"


@dataclass(frozen=True)
class Acknowledgement:
    number: int  # the message's place in what was received, from 1
    control_id: str  # its MSH-10
    code: str  # AA | AE | AR
    ack: str  # the ACK message text (segments ended by CR)
    outcomes: tuple[Outcome, ...]  # one per RXA, for a message that got that far
    issues: tuple[FeedIssue, ...]  # what the ACK's ERR segments say, in order


def receive(
    ledger: DoseLedger,
    data: bytes,
    actor: Actor,
    *,
    allowed_sites: Sequence[str] | None = None,
    default_province: str | None = None,
    test_codes: bool = False,
    match_identity: bool = False,
    fallback: str = FALLBACK,
    profile: str | None = None,
    dry_run: bool = False,
) -> list[Acknowledgement]:
    """One ACK per message of `data`, in order. `profile`: a message profile whose faults are
    warnings (`intake.hl7v2.profile`: "cdc-covid"); the feeds' other options: `intake.feeds.book`."""
    options: dict[str, Any] = dict(
        allowed_sites=allowed_sites,
        default_province=default_province,
        test_codes=test_codes,
        match_identity=match_identity,
    )
    raws = read_messages(data, fallback)
    mapped: list[tuple[RawMessage, MappedMessage | None]] = [
        (raw, map_message(raw.text, raw.number, profile) if raw.text is not None else None) for raw in raws
    ]
    taken = [
        (raw, m) for raw, m in mapped if m is not None and not m.rejected and _bookable(m, allowed_sites)
    ]
    outcomes_of = _booked(ledger, taken, actor, options, dry_run)
    answers = []
    for raw, m in mapped:
        if m is None:
            issue = FeedIssue(raw.problem_at, raw.problem or "unreadable", kind="malformed")
            answers.append(_answer(raw, None, AR, (issue,), ()))
        elif m.rejected:
            answers.append(_answer(raw, m, AR, m.rejected, ()))
        elif not _bookable(m, allowed_sites):
            scope = tuple(
                FeedIssue(r.at("site_id"), "this site is outside the sender's scope", kind="scope")
                for r in m.records
                if r.site_id not in (allowed_sites or ())
            )
            answers.append(_answer(raw, m, AR, scope, ()))
        else:
            outcomes = outcomes_of[raw.number]
            issues = tuple(i for o in outcomes for i in o.issues)
            answers.append(_answer(raw, m, ack_code(False, issues), issues, outcomes))
    return answers


def _booked(
    ledger: DoseLedger,
    taken: Sequence[tuple[RawMessage, MappedMessage]],
    actor: Actor,
    options: dict[str, Any],
    dry_run: bool,
) -> dict[int, tuple[Outcome, ...]]:
    """Each message's outcomes, booked in the order received, each message record-or-nothing.

    Messages of one RXA (the common case) are booked together, in one transaction. A message
    of several is booked after the messages before it are saved, so that it is checked against
    them: tried first without storing, then booked only if none of its records is refused.
    Its new records are saved in one transaction, its amendments and voids one by one after
    them: only another writer changing the same records between the try and the booking can
    still refuse one of them then (its ACK says so, AE, with each record's outcome).
    """
    outcomes_of: dict[int, tuple[Outcome, ...]] = {}
    run: list[tuple[RawMessage, MappedMessage]] = []

    def flush() -> None:
        if not run:
            return
        booked = iter(book(ledger, [r for _, m in run for r in m.records], actor, **options, dry_run=dry_run))
        for raw, m in run:
            outcomes_of[raw.number] = tuple(next(booked) for _ in m.records)
        run.clear()

    for raw, m in taken:
        if len(m.records) <= 1:
            run.append((raw, m))
            continue
        flush()
        tried = book(ledger, m.records, actor, **options, dry_run=True)
        if any(o.status == REFUSED for o in tried):
            outcomes_of[raw.number] = _together(tried)
        else:
            outcomes_of[raw.number] = tuple(book(ledger, m.records, actor, **options, dry_run=dry_run))
    flush()
    return outcomes_of


def _bookable(m: MappedMessage, allowed_sites: Sequence[str] | None) -> bool:
    return allowed_sites is None or all(r.site_id in allowed_sites for r in m.records)


def _together(tried: Sequence[Outcome]) -> tuple[Outcome, ...]:
    """A message's records when one was refused: none is booked."""
    together = FeedIssue("RXA", "not booked: another RXA of this message was refused", "warning")
    return tuple(
        o if o.status in (REFUSED, NO_DOSE) else Outcome(REFUSED, (*o.issues, together)) for o in tried
    )


def _answer(
    raw: RawMessage,
    m: MappedMessage | None,
    code: str,
    issues: Sequence[FeedIssue],
    outcomes: tuple[Outcome, ...],
) -> Acknowledgement:
    control_id = m.control_id if m is not None else raw.control_id
    ack = build_ack(
        code,
        control_id,
        issues,
        sending_application=m.sending_application if m else "",
        sending_facility=m.sending_facility if m else "",
        receiving_application=m.receiving_application if m else "",
        receiving_facility=m.receiving_facility if m else "",
    )
    return Acknowledgement(raw.number, control_id, code, ack, outcomes, tuple(issues))


__all__ = ["AA", "AE", "AR", "MEDIA_TYPE", "Acknowledgement", "receive"]
