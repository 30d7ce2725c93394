"""The book of series rules versions: each version adopted after the shipped one is an event.

One stream at a fixed id. Version 1 ships with the code (ledger.series_rules.shipped) and is in
force while the book holds nothing; so the first version adopted is 2, and each next one the
version in force plus one: a version is never adopted twice, never skipped, and two officials
adopting at once cannot both win (the store's unique stream version decides, the loser is
decided again and told which version is now in force). Adopting version 1 again is refused:
its content is the shipped file's, and a second copy of it in the store could only disagree.

`Adopted` carries the whole version's data, so a store replays every certificate it ever
numbered whatever later code ships; the certificates view follows it to number them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import uuid5

from eventsourcing.domain import event

from ledger.chain import ChainedAggregate
from ledger.errors import InvalidValue
from ledger.keys import NAMESPACE
from ledger.series_rules import SeriesRules, parse, shipped

RULES_BOOK_ID = uuid5(NAMESPACE, "series-rules")


class SeriesRulesBook(ChainedAggregate):
    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Opened: ClassVar[type[Any]]
        Adopted: ClassVar[type[Any]]

    @event("Opened")
    def __init__(self, actor: dict[str, str]) -> None:
        self.in_force = shipped().version
        self.versions: dict[int, dict[str, Any]] = {}  # adopted version → its data

    @classmethod
    def open(cls, actor: dict[str, str]) -> SeriesRulesBook:
        book: SeriesRulesBook = cls._create(cls.Opened, id=RULES_BOOK_ID, actor=actor)
        return book

    def adopt(self, data: Mapping[str, Any], reason: str, actor: dict[str, str]) -> SeriesRules:
        """The version `data` holds, in force from now on; RulesInvalid names the field at fault."""
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidValue("reason", "is required: why this version is adopted")
        if len(reason) > 500:
            raise InvalidValue("reason", "is longer than 500 characters")
        rules = parse(data)
        expected = self.in_force + 1
        if rules.version != expected:
            raise InvalidValue(
                "version",
                f"must be {expected}: version {self.in_force} is in force, versions follow it one by one",
            )
        self._adopted(version=rules.version, rules=dict(rules.data), reason=reason.strip(), actor=actor)
        return rules

    @event("Adopted")
    def _adopted(self, version: int, rules: dict[str, Any], reason: str, actor: dict[str, str]) -> None:
        self.in_force = version
        self.versions = {**self.versions, version: rules}
