"""Sites' daily tallies: what a site counted it gave each day, recorded on the site's stream.

A tally naming a site missing from the directory is taken as a dose naming one is: the site
is listed provisional in the same transaction. Refusing it would hide the backlog of exactly
the sites the directory missed (every mobile team, half the sites on the failed platform),
whose doses are the ones most likely never entered. A dose gives a provisional site its
person's province; a tally has no person, so the sender names the province, and only a tally
for an unlisted site without one is refused, naming `province` (the sender can fix that now).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError

from ledger import rules
from ledger.errors import InvalidValue, LedgerError, SiteNotFound
from ledger.keys import site_key
from ledger.site import Site
from ledger.tallies import Tally, tally
from ledger.values import Actor, DoseStatus, Source
from usecases.decision import Decisions
from usecases.sites import Sites
from usecases.working_set import WorkingSet


@dataclass(frozen=True)
class TalliesReported:
    """What became of each tally sent (in order): True recorded, False the same tally was
    already there (a retry: nothing written); the save's position (the head when none)."""

    days: list[str]  # each tally's day, as checked (ISO)
    recorded: list[bool]
    position: int | None
    listed: bool  # the site was listed provisional with these tallies


@dataclass(frozen=True)
class TallyLine:
    """One row of an imported tally file, checked: a site's count of one vaccine on one day,
    where it came from (the import and row), and the province to list an unknown site in."""

    site_id: str
    day: str  # ISO
    vaccine: str  # the catalog's code
    doses: int
    source: dict[str, Any]
    province: str | None = None


@dataclass(frozen=True)
class TallyLineOutcome:
    """created (a tally recorded) | duplicate (the day already counts these doses) | rejected."""

    status: DoseStatus
    error: LedgerError | None = None


class Tallies:
    def __init__(self, decisions: Decisions, sites: Sites) -> None:
        self.decisions = decisions
        self.sites = sites

    def report(
        self,
        site_id: str,
        items: list[dict[str, Any]],
        *,
        province: str | None,
        actor: Actor,
        source: Source,
        numbered: bool | None = None,
        dry_run: bool = False,
    ) -> TalliesReported:
        """Record a site's tallies, all or none: every item is checked first (an error names
        the item, `N.field`, when `numbered`: by default when there are several), then decided in one working set and
        saved in one transaction. A retry records nothing new (see `Site.report_tally`)."""
        checked_site = rules.text(site_id, "site_id", max_len=64)
        if not isinstance(items, list) or not items:
            raise InvalidValue("tallies", "must hold at least one tally")
        prefix = len(items) > 1 if numbered is None else numbered
        checked = [tally(item, f"{n}." if prefix else "") for n, item in enumerate(items)]
        days = [t.day for t in checked]
        hint = rules.province(province) if province is not None else None

        def choose(ws: WorkingSet) -> tuple[list[bool], bool]:
            site, listed = self._site(ws, checked_site, hint, actor, source)
            recorded = [site.report_tally(t, actor.as_data(), source.as_data()) for t in checked]
            if listed or any(recorded):
                ws.changed(site)
            return recorded, listed

        if dry_run:
            recorded, listed = choose(self.decisions.working_set())
            return TalliesReported(days, recorded, self.decisions.head(), listed)
        decided = self.decisions.decide(choose)
        recorded, listed = decided.value
        return TalliesReported(days, recorded, decided.position, listed)

    def import_lines(
        self, lines: list[TallyLine], actor: Actor, *, dry_run: bool = False
    ) -> list[TallyLineOutcome]:
        """Imported rows, each on its own: decided together in one working set and saved in one
        transaction, a refused row (an unknown site without a province) refusing only itself.
        A row sets one vaccine's count of its day (`Site.report_vaccine_count`): a file sent
        again records nothing. dry_run: decided, nothing saved."""

        def choose(ws: WorkingSet) -> list[TallyLineOutcome]:
            ws.prefetch({site_key(line.site_id) for line in lines})  # the chunk's sites in one read
            outcomes = []
            for line in lines:
                try:
                    site, listed = self._site(ws, line.site_id, line.province, actor, Source.of(line.source))
                    recorded = site.report_vaccine_count(
                        line.day, line.vaccine, line.doses, actor.as_data(), line.source
                    )
                except LedgerError as error:
                    outcomes.append(TallyLineOutcome(DoseStatus.REJECTED, error))
                    continue
                if listed or recorded:
                    ws.changed(site)
                outcomes.append(TallyLineOutcome(DoseStatus.CREATED if recorded else DoseStatus.DUPLICATE))
            return outcomes

        if not lines:
            return []
        if dry_run:
            return choose(self.decisions.working_set())
        return self.decisions.decide(choose).value

    def _site(
        self, ws: WorkingSet, site_id: str, province: str | None, actor: Actor, source: Source
    ) -> tuple[Site, bool]:
        site = ws.get(Site, site_key(site_id))
        if site is not None:
            return site, False
        if province is None:
            raise InvalidValue(
                "province",
                f"site {site_id!r} is not in the directory: give its province to list it "
                "provisional with this tally",
            )
        listed = self.sites.provisional(ws, site_id, province, actor, source.as_data())
        if not listed:
            # This process listed it since this working set read it: decide on fresh reads.
            raise IntegrityError(f"site {site_id!r} was listed by another decision meanwhile")
        return listed[0], True

    def of_site(self, site_id: str) -> list[dict[str, Any]]:
        """A site's tallies, one per day (oldest day first): the day's latest counts and total,
        what they were counted from, and every report of that day (`reports`, oldest first:
        the earlier ones superseded). SiteNotFound for a site missing from the directory."""
        site = self.decisions.working_set().get(Site, site_key(site_id))
        if site is None:
            raise SiteNotFound(site_id)
        return [
            {
                "day": day,
                "counts": reports[-1]["counts"],
                "doses": sum(reports[-1]["counts"].values()),
                "source": reports[-1]["basis"],
                "reports": [
                    {"counts": r["counts"], "source": r["basis"], "request_id": r["request_id"]}
                    for r in reports
                ],
            }
            for day, reports in sorted(site.tallies.items())
        ]


__all__ = ["Tallies", "TalliesReported", "Tally", "TallyLine", "TallyLineOutcome"]
