"""Adopting a series rules version, and reading the one in force (ledger.rules_book).

`in_force` is a read of one small stream: a caller numbering many people (a view's page, a
rebuild) reads it once and hands the SeriesRules on, rather than once per person.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from eventsourcing.application import AggregateNotFoundError

from ledger.errors import NotFound
from ledger.rules_book import RULES_BOOK_ID, SeriesRulesBook
from ledger.series_rules import SeriesRules, parse, shipped
from ledger.values import Actor
from usecases.working_set import WorkingSet


@dataclass(frozen=True)
class Adoption:
    """One version in the book: who adopted it, when and why (version 1: shipped, no event)."""

    version: int
    adopted_at: datetime | None
    reason: str
    actor: Mapping[str, str] | None


def adopt(ledger: Any, data: Mapping[str, Any], reason: str, actor: Actor) -> SeriesRules:
    """Adopt the version `data` holds (the version in force plus one); nothing is stored when
    it is refused (RulesInvalid or InvalidValue, naming the field)."""

    def choose(ws: WorkingSet) -> SeriesRules:
        book = ws.get(SeriesRulesBook, RULES_BOOK_ID) or SeriesRulesBook.open(actor.as_data())
        adopted = book.adopt(data, reason, actor.as_data())
        ws.changed(book)
        return adopted

    decided: SeriesRules = ledger.decisions.decide(choose).value
    return decided


def in_force(ledger: Any) -> SeriesRules:
    """The version in force: the latest adopted, else the shipped version 1."""
    book = _book(ledger)
    if book is None:
        return shipped()
    return version(ledger, book.in_force, book=book)


def version(ledger: Any, number: int, *, book: SeriesRulesBook | None = None) -> SeriesRules:
    """Version `number`, shipped or adopted; NotFound if the book holds no such version."""
    if number == shipped().version:
        return shipped()
    book = book or _book(ledger)
    data = book.versions.get(number) if book is not None else None
    if data is None:
        raise NotFound("version", f"no series rules version {number}")
    return _parsed(orjson.dumps(data, option=orjson.OPT_SORT_KEYS))


def adoptions(ledger: Any) -> list[Adoption]:
    """Every version, oldest first: the shipped one, then each adopted with its time and reason."""
    found = [Adoption(shipped().version, None, "shipped with the code", None)]
    try:
        events = list(ledger.events.get(RULES_BOOK_ID))
    except AggregateNotFoundError:
        events = []
    for e in events:
        if isinstance(e, SeriesRulesBook.Adopted):
            found.append(Adoption(e.version, e.timestamp, e.reason, dict(e.actor)))
    return found


def _book(ledger: Any) -> SeriesRulesBook | None:
    try:
        book = ledger.repository.get(RULES_BOOK_ID)
    except AggregateNotFoundError:
        return None
    return book if isinstance(book, SeriesRulesBook) else None


@lru_cache(maxsize=16)
def _parsed(canonical: bytes) -> SeriesRules:
    # Parsed once per content: the book is read often, its versions are few and never change.
    return parse(orjson.loads(canonical))
