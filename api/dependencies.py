"""What a route may ask for, as `Annotated` aliases: this process's ledger, views and settings,
the caller (named for the roles the route allows: an admin token may call every route), and the
provinces a query names.

    def amend(dose_id: UUID, body: AmendIn, principal: SitePrincipal, ledger: Ledger) -> ...

The getters are `async def` although they do no I/O: FastAPI runs a plain `def` dependency in
the threadpool, a hop per request for a lookup on app.state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Query, Request

import projections
from api.auth import Allow
from config.settings import Settings
from ledger import rules
from ledger.principal import AUDITOR, PORTAL, PROVINCE, REPORTER, SITE, Principal
from usecases.application import DoseLedger


async def ledger_of(request: Request) -> DoseLedger:
    ledger: DoseLedger = request.app.state.ledger
    return ledger


async def views_of(request: Request) -> projections.Views:
    views: projections.Views = request.app.state.views
    return views


async def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Ledger = Annotated[DoseLedger, Depends(ledger_of)]
Views = Annotated[projections.Views, Depends(views_of)]
AppSettings = Annotated[Settings, Depends(settings_of)]

AdminPrincipal = Annotated[Principal, Depends(Allow())]
AuditorPrincipal = Annotated[Principal, Depends(Allow(AUDITOR))]
ProvincePrincipal = Annotated[Principal, Depends(Allow(PROVINCE))]
SitePrincipal = Annotated[Principal, Depends(Allow(SITE))]
PortalOrSitePrincipal = Annotated[Principal, Depends(Allow(PORTAL, SITE))]
ProvinceOrSitePrincipal = Annotated[Principal, Depends(Allow(PROVINCE, SITE))]
ProvinceOrAuditorPrincipal = Annotated[Principal, Depends(Allow(PROVINCE, AUDITOR))]
ReporterOrAuditorPrincipal = Annotated[Principal, Depends(Allow(REPORTER, AUDITOR))]
SiteOrAuditorPrincipal = Annotated[Principal, Depends(Allow(SITE, AUDITOR))]
SiteProvinceOrAuditorPrincipal = Annotated[Principal, Depends(Allow(SITE, PROVINCE, AUDITOR))]
ProvinceReporterOrAuditorPrincipal = Annotated[Principal, Depends(Allow(PROVINCE, REPORTER, AUDITOR))]

# A tuple default (`province: Provinces = ()`): the OpenAPI document shows it as [], and no
# request shares a mutable default.
Provinces = Annotated[
    Sequence[str],
    Query(
        description="2-digit province codes (repeat, or comma-separated); a province token reads only its own"
    ),
]


def provinces(values: Sequence[str]) -> list[str]:
    """The province codes a query names (repeated or comma-separated), checked, each once."""
    codes = [code for value in values for code in value.split(",") if code.strip()]
    return sorted({rules.province(code) for code in codes})
