"""Values the domain's events and decisions share.

Statuses are `StrEnum`s: a member equals, hashes, formats and serialises as its string, so
code and clients that compare with "created" or "open" keep working. Events store plain
strings (`str(member)`), never the enum: what an event stores is a contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class Actor:
    """Who causes an event: a principal and the role it acted in."""

    principal_id: str
    role: str

    def as_data(self) -> dict[str, str]:
        return {"principal_id": self.principal_id, "role": str(self.role)}


SYSTEM = Actor("system", "system")


@dataclass(frozen=True)
class Source:
    """Where an event's content came from: a kind ("api", "site", "merge", "retro_import"...)
    and what identifies it there (a site record, a request id, an import's row).

    Kept as the items it was given, in their order: that order is part of the stored bytes.
    """

    items: tuple[tuple[str, Any], ...]

    def __post_init__(self) -> None:
        if not any(key == "kind" for key, _ in self.items):
            raise ValueError("a source names its kind")

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Source:
        """A source as events store it, e.g. {"kind": "site", "site_id": ...}."""
        return cls(tuple(data.items()))

    @classmethod
    def named(cls, kind: str, **details: Any) -> Source:
        return cls((("kind", kind), *details.items()))

    @property
    def kind(self) -> str:
        return str(dict(self.items)["kind"])

    def with_details(self, **details: Any) -> Source:
        return Source(self.items + tuple(details.items()))

    def as_data(self) -> dict[str, Any]:
        return dict(self.items)


class Role(StrEnum):
    ADMIN = "admin"
    SITE = "site"
    PROVINCE = "province"
    AUDITOR = "auditor"
    REPORTER = "reporter"
    PORTAL = "portal"


class DoseStatus(StrEnum):
    """What became of one reported dose."""

    CREATED = "created"
    DUPLICATE = "duplicate"  # the same site record with the same content: nothing written
    CONFLICT = "conflict"  # the same site record with other content
    REJECTED = "rejected"  # refused by a rule


class CorrectionKind(StrEnum):
    MISSING_DOSE = "missing_dose"
    WRONG_DOSE = "wrong_dose"
    WRONG_DETAILS = "wrong_details"


class CorrectionStatus(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class SiteKind(StrEnum):
    OFFICIAL = "official"
    MOBILE = "mobile"
    PROVISIONAL = "provisional"  # listed by a dose from a site missing from the directory


class ReviewStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ImportStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
