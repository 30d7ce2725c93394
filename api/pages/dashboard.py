"""The console's start page: the dashboard of the session's scope, from the read side.

The numbers are the statistics API's (`views.statistics`, `views.backlog`, `views.corrections.summary`,
`views.status()`), for the same scope: an admin all provinces (or the one picked), a province
official theirs, site staff their sites' doses and correction requests (the open ones naming
its sites, the answered ones its sites were given to answer). No person's data is
shown (counts only), so nothing here is a recorded read.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from api.pages import charts
from api.pages.i18n import text
from api.pages.rendering import language, render
from api.pages.session import Session, SignedIn
from ledger.catalog import provinces
from ledger.principal import ADMIN, SITE

router = APIRouter(prefix="/console", include_in_schema=False)


def status_names(lang: str) -> dict[str, str]:
    """A person's vaccination status (ledger.series), as the page names it."""
    return {
        "none": text(lang, "not vaccinated"),
        "partial": text(lang, "partly vaccinated"),
        "complete": text(lang, "fully vaccinated"),
        "booster": text(lang, "boosted"),
    }


def age_names(lang: str) -> dict[str, str]:
    """The backlog's age bands (projections.backlog.AGES), as the page names them."""
    return {
        "0-7": text(lang, "0 to 7 days"),
        "8-30": text(lang, "8 to 30 days"),
        "31-90": text(lang, "31 to 90 days"),
        ">90": text(lang, "over 90 days"),
    }


@router.get("/")
def dashboard(
    request: Request, session: Annotated[Session, Depends(SignedIn())], province: str = ""
) -> Response:
    lang = language(request)
    views = request.app.state.views
    errors: dict[str, str] = {}
    scope = session.provinces
    picked = province.strip()
    if picked and session.principal.role == ADMIN:
        if picked.zfill(2) in provinces():
            picked = picked.zfill(2)
            scope = [picked]
        else:
            errors["province"] = text(lang, "Choose a province from the list.")
            picked = ""
    figures = figures_for(views, session, scope, request.app.state.settings.correction_overdue_days)
    names = provinces()
    statuses = status_names(lang)
    return render(
        request,
        "dashboard.html",
        {
            **figures,
            "errors": errors,
            "picked": picked,
            "own_provinces": [names.get(p, p) for p in session.principal.provinces],
            "province_names": names,
            "status_names": statuses,
            "doses_chart": charts.line(
                [(row["date"], row["doses"]) for row in figures["per_day"]],
                text(lang, "Doses per day"),
                text(lang, "No doses yet."),
            ),
            "coverage_chart": charts.bars(
                [
                    (
                        f"{names.get(row['province'], row['province'])} · {statuses.get(row['status'], row['status'])}",
                        row["people"],
                    )
                    for row in figures["coverage"]
                ],
                text(lang, "People by vaccination status"),
                text(lang, "No people yet."),
            ),
            "backlog_age_chart": charts.bars(
                [
                    (age_names(lang).get(row["age"], row["age"]), row["backlog"])
                    for row in figures["backlog"]["by_age"]
                ],
                text(lang, "Backlog by the age of the gap"),
                text(lang, "No tallies yet."),
            ),
            "backlog_district_chart": charts.bars(
                [
                    (
                        f"{row['district'] or text(lang, 'unknown district')} · {names.get(row['province'], row['province'])}",
                        row["backlog"],
                    )
                    for row in figures["backlog"]["by_district"]
                ],
                text(lang, "Backlog by district"),
                text(lang, "No tallies yet."),
            ),
            "coverage_age_chart": charts.bars(
                [
                    (
                        f"{row['age_band'] or '?'} · {statuses.get(row['status'], row['status'])}",
                        row["people"],
                    )
                    for row in figures["coverage_by_age"]
                ],
                text(lang, "People by age band and status"),
                text(lang, "No people yet."),
            ),
            "corrections_age_chart": charts.bars(
                [
                    (age_names(lang).get(row["age"], row["age"]), row["open"])
                    for row in figures["corrections_by_age"]
                ],
                text(lang, "Open correction requests by age"),
                text(lang, "No open correction requests."),
            ),
            "age_names": age_names(lang),
            "corrections_chart": charts.bars(
                [
                    (g["site_id"] or names.get(g["province"], g["province"]), g["open"])
                    for g in figures["corrections"]
                ],
                text(lang, "Open correction requests by site"),
                text(lang, "No open correction requests."),
            ),
        },
        session=session,
    )


def figures_for(views: Any, session: Session, scope: list[str] | None, overdue_days: float) -> dict[str, Any]:
    """The dashboard's numbers for a scope: as the statistics API answers them."""
    sites = session.sites if session.principal.role == SITE else None
    if sites is None:
        per_day = views.statistics.dose_counts(["date"], provinces=scope)
        by_vaccine = views.statistics.dose_counts(["vaccine"], provinces=scope)
        coverage = views.statistics.coverage(scope)
    else:  # a site's figures: its own doses, counted per site by the same view
        mine = set(sites)
        days: Counter[str] = Counter()
        vaccines: Counter[str] = Counter()
        for row in views.statistics.dose_counts(["date", "site_id", "vaccine"]):
            if row["site_id"] in mine:
                days[row["date"]] += row["doses"]
                vaccines[row["vaccine"]] += row["doses"]
        per_day = [{"date": day, "doses": n} for day, n in sorted(days.items())]
        by_vaccine = [{"vaccine": v, "doses": n} for v, n in sorted(vaccines.items())]
        coverage = []  # people are counted by province, not by site
    summary = views.corrections.summary(scope, sites=sites, overdue_after=timedelta(days=overdue_days))
    # The backlog is counted per site-day, for provinces (the statistics API's readers): site
    # staff see their tallies on the site's own pages. Coverage by district and age band is the
    # statistics view's breakdown, as /v1/stats/coverage?group_by= answers it.
    backlog: dict[str, Any] = {"by_district": [], "by_age": [], "total": None}
    coverage_by: dict[str, list[dict[str, Any]]] = {"district": [], "age_band": []}
    if sites is None:
        backlog = {
            "by_district": views.backlog.by_district(scope),
            "by_age": views.backlog.by_age(scope),
            "total": views.backlog.total(scope),
        }
        coverage_by = {g: views.statistics.coverage(scope, group_by=[g]) for g in coverage_by}
    open_groups = list(summary["open"])
    # Oldest first: the table reads as a queue by age (the summary gives each group's oldest).
    open_groups.sort(key=lambda g: -g["oldest_age_days"])
    return {
        "per_day": per_day,
        "total": sum(row["doses"] for row in per_day),
        "by_vaccine": by_vaccine,
        "coverage": coverage,
        "people": sum(row["people"] for row in coverage),
        "corrections": open_groups,
        "corrections_overdue": sum(g["overdue"] for g in open_groups),
        "corrections_resolved": summary["resolved"],
        "corrections_by_age": views.corrections.open_by_age(scope, sites),
        "backlog": backlog,
        "coverage_by_district": coverage_by["district"],
        "coverage_by_age": coverage_by["age_band"],
        "projections": views.status(),
    }
