"""The site directory: official and mobile sites registered, provisional ones listed by the
doses that name them, each reviewed once."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger import rules
from ledger.errors import Conflict, InvalidValue, SiteNotFound
from ledger.keys import site_key
from ledger.site import Site
from ledger.values import Actor, SiteKind, Source
from usecases.decision import Decisions
from usecases.receipts import Written
from usecases.working_set import WorkingSet

DIRECTORY = Source.named("directory")


class Sites:
    def __init__(self, decisions: Decisions) -> None:
        self.decisions = decisions
        self._listed: set[str] = set()  # sites never leave the directory: safe to remember

    def register(
        self, site_id: str, *, name: str, kind: str, province: str, district: str | None, actor: Actor
    ) -> Written:
        checked_id = rules.text(site_id, "site_id", max_len=64)
        checked_name = rules.text(name, "name")
        if kind not in tuple(SiteKind) or kind == SiteKind.PROVISIONAL:
            raise InvalidValue("kind", "must be official or mobile (provisional sites come from doses)")
        province = rules.province(province)
        district = rules.text(district, "district", max_len=100, required=False)
        assert checked_id is not None  # required: rules.text raised otherwise

        def choose(ws: WorkingSet) -> UUID:
            # Read again on a retry: a writer that listed the site meanwhile makes this a conflict.
            if ws.get(Site, site_key(checked_id)) is not None:
                raise Conflict(
                    "site_id", f"site {checked_id!r} is already in the directory; review it instead"
                )
            site = Site.add_to_directory(
                site_key(checked_id),
                checked_id,
                checked_name,
                kind,
                province,
                district,
                actor.as_data(),
                DIRECTORY.as_data(),
            )
            ws.changed(site)
            return site.id

        decided = self.decisions.decide(choose)
        self._listed.add(checked_id)
        return Written(decided.value, decided.position)

    def review(
        self,
        site_id: str,
        decision: str,
        *,
        kind: str | None,
        name: str | None,
        province: str | None,
        district: str | None,
        reason: str | None,
        actor: Actor,
    ) -> Written:
        province = rules.province(province) if province is not None else None
        name = rules.text(name, "name", required=False)
        reason = rules.text(reason, "reason", max_len=1000, required=False)

        def choose(ws: WorkingSet) -> UUID:
            site = ws.get(Site, site_key(site_id))
            if site is None:
                raise SiteNotFound(site_id)
            site.review(decision, kind, name, province, district, reason, actor.as_data())
            ws.changed(site)
            return site.id

        decided = self.decisions.decide(choose)
        return Written(decided.value, decided.position)

    def site(self, site_id: str) -> Site | None:
        return self.decisions.working_set().get(Site, site_key(site_id))

    def provisional(
        self, ws: WorkingSet, site_id: str, province_hint: str, actor: Actor, source: dict[str, Any]
    ) -> list[Site]:
        """A site missing from the directory is listed provisional, never a reason to refuse."""
        if site_id in self._listed:
            return []
        if ws.get(Site, site_key(site_id)) is not None:
            self._listed.add(site_id)
            return []
        return [
            Site.add_to_directory(
                site_key(site_id),
                site_id,
                None,
                SiteKind.PROVISIONAL,
                province_hint,
                None,
                actor.as_data(),
                source,
            )
        ]
