"""The console's routers, in the order the app includes them (api/app.py ROUTERS)."""

from __future__ import annotations

from api.pages import citizen, dashboard, downloads, duplicates, flags, localities, persons, review, session

ROUTERS = (
    session.router,
    dashboard.router,
    review.router,
    duplicates.router,
    flags.router,
    downloads.router,
    localities.router,
    persons.router,
    citizen.router,
)
