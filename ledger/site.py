"""The site directory. A site missing from it never blocks a dose: it is listed provisional."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from ledger.chain import ChainedAggregate
from ledger.errors import InvalidValue
from ledger.values import ReviewStatus, SiteKind

OFFICIAL, MOBILE, PROVISIONAL = SiteKind.OFFICIAL, SiteKind.MOBILE, SiteKind.PROVISIONAL
KINDS = tuple(SiteKind)
PENDING, APPROVED, REJECTED = ReviewStatus.PENDING, ReviewStatus.APPROVED, ReviewStatus.REJECTED


class Site(ChainedAggregate):
    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Listed: ClassVar[type[Any]]
        Reviewed: ClassVar[type[Any]]

    @event("Listed")
    def __init__(
        self,
        site_id: str,
        name: str | None,
        kind: str,
        province: str | None,
        district: str | None,
        actor: dict[str, str],
        source: dict[str, Any],
    ) -> None:
        self.site_id = site_id
        self.name = name
        self.kind = kind
        self.province = province
        self.district = district
        self.review_status = str(PENDING if kind == PROVISIONAL else APPROVED)

    @classmethod
    def add_to_directory(
        cls,
        aggregate_id: UUID,
        site_id: str,
        name: str | None,
        kind: str,
        province: str | None,
        district: str | None,
        actor: dict[str, str],
        source: dict[str, Any],
    ) -> Site:
        site: Site = cls._create(
            cls.Listed,
            id=aggregate_id,
            site_id=site_id,
            name=name,
            kind=str(kind),
            province=province,
            district=district,
            actor=actor,
            source=source,
        )
        return site

    def review(
        self,
        decision: str,
        kind: str | None,
        name: str | None,
        province: str | None,
        district: str | None,
        reason: str | None,
        actor: dict[str, str],
    ) -> None:
        if decision not in (APPROVED, REJECTED):
            raise InvalidValue("decision", f"must be {APPROVED} or {REJECTED}")
        if decision == APPROVED and (kind or self.kind) == PROVISIONAL:
            raise InvalidValue("kind", "an approved site is official or mobile")
        if decision == REJECTED and not reason:
            raise InvalidValue("reason", "is required to reject a site")
        self._reviewed(
            decision=str(decision),
            kind=kind or self.kind,
            name=name or self.name,
            province=province or self.province,
            district=district or self.district,
            reason=reason,
            actor=actor,
        )

    @event("Reviewed")
    def _reviewed(
        self,
        decision: str,
        kind: str,
        name: str | None,
        province: str | None,
        district: str | None,
        reason: str | None,
        actor: dict[str, str],
    ) -> None:
        self.review_status = decision
        self.kind = kind
        self.name = name
        self.province = province
        self.district = district
