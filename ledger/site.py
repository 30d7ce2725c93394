"""The site directory, and what each site reports of itself: its daily tallies.

A site missing from the directory never blocks a dose, nor a tally: it is listed provisional."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from ledger.chain import ChainedAggregate
from ledger.errors import Conflict, InvalidValue
from ledger.tallies import Tally, tally
from ledger.values import ReviewStatus, SiteKind

OFFICIAL, MOBILE, PROVISIONAL = SiteKind.OFFICIAL, SiteKind.MOBILE, SiteKind.PROVISIONAL
KINDS = tuple(SiteKind)
PENDING, APPROVED, REJECTED = ReviewStatus.PENDING, ReviewStatus.APPROVED, ReviewStatus.REJECTED


class Site(ChainedAggregate):
    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Listed: ClassVar[type[Any]]
        Reviewed: ClassVar[type[Any]]
        TallyReported: ClassVar[type[Any]]

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
        # day → every tally reported for it, oldest first: the last one is the day's count.
        self.tallies: dict[str, list[dict[str, Any]]] = {}
        self.tally_requests: dict[str, str] = {}  # a sender's request id → the tally's digest

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

    def report_tally(
        self, report: Tally | dict[str, Any], actor: dict[str, str], source: dict[str, Any]
    ) -> bool:
        """The site's count of a day's doses (checked here: a day not in the future, whole
        counts of 0 or more, catalog vaccines, at least one). A day already reported is
        reported again by a new event, which supersedes the earlier one (the latest wins; the
        history stays).

        Idempotent: the same request id again records nothing (False); a request id already
        used for another tally is a conflict. A tally without a request id whose counts are
        those of ANY earlier report of the day records nothing either: it is a retry (a CSV
        sheet never carries an id, and a delayed retry of an older tally must not undo the
        correction that came after it). Going back to an earlier figure takes a new request
        id. True when an event was recorded."""
        checked = tally(report.as_fields() if isinstance(report, Tally) else report)
        if checked.request_id is not None and checked.request_id in self.tally_requests:
            if self.tally_requests[checked.request_id] != checked.digest:
                raise Conflict(
                    "request_id",
                    f"request {checked.request_id!r} of site {self.site_id!r} reported another tally",
                )
            return False
        if checked.request_id is None and any(
            report["counts"] == checked.counts for report in self.tallies.get(checked.day, ())
        ):
            return False
        self._tally_reported(
            site_id=self.site_id,
            day=checked.day,
            counts=dict(checked.counts),
            basis=checked.basis,
            request_id=checked.request_id,
            content_digest=checked.digest,
            actor=actor,
            source=source,
        )
        return True

    def report_vaccine_count(
        self, day: str, vaccine: str, doses: int, actor: dict[str, str], source: dict[str, Any]
    ) -> bool:
        """One vaccine's count of a day (a row of an imported tally file): a tally of the day
        whose counts are the day's latest with this vaccine's set, the other vaccines' kept.
        Checked as `report_tally` checks. Nothing recorded (False) when any report of the day
        already counted these doses of the vaccine: the same row imported again is a retry,
        even after a later correction of the day (which it must not undo)."""
        if any(report["counts"].get(vaccine) == doses for report in self.tallies.get(day, ())):
            return False
        latest = self.latest_tally(day)
        counts = dict(latest["counts"]) if latest is not None else {}
        counts[vaccine] = doses
        return self.report_tally({"day": day, "counts": counts, "source": "tally_sheet"}, actor, source)

    def latest_tally(self, day: str) -> dict[str, Any] | None:
        reported = self.tallies.get(day)
        return reported[-1] if reported else None

    @event("TallyReported")
    def _tally_reported(
        self,
        site_id: str,
        day: str,
        counts: dict[str, int],
        basis: str,
        request_id: str | None,
        content_digest: str,
        actor: dict[str, str],
        source: dict[str, Any],
    ) -> None:
        self.tallies.setdefault(day, []).append(
            {"counts": counts, "basis": basis, "request_id": request_id, "version": self.version + 1}
        )
        if request_id is not None:
            self.tally_requests[request_id] = content_digest
