"""The FastAPI application: routers, error mapping, body limits, metrics; one ledger per process."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from api import docs, problems
from api.audit import pages as audit_pages
from api.audit import router as audit
from api.auth import TokenVerifier
from api.certificates import router as certificates
from api.corrections import router as corrections
from api.cvrs import router as cvrs
from api.doses import router as doses
from api.fhir import router as fhir
from api.hl7v2 import router as hl7v2
from api.imports import router as imports
from api.limits import BodyLimit
from api.localities import router as localities
from api.metrics import RequestMetrics
from api.operations import router as operations
from api.pages import session as page_sessions
from api.pages.router import ROUTERS as PAGE_ROUTERS
from api.persons import router as persons
from api.redaction import keep_queries_out_of_the_access_log
from api.responses import ORJSON
from api.review import router as review
from api.revocations import RevocationWatch
from api.signed import lists as revocation_lists
from api.signed import router as signed
from api.sites import doses as site_doses
from api.sites import router as sites
from api.sites import tallies as site_tallies
from api.stats import router as statistics
from api.throttle import Throttle
from api.tokens import router as tokens
from api.trust import router as trust
from api.verify import router as verification
from config.settings import Settings, variable
from intake.retro.jobs import ImportJobs, import_folder
from signing.keys import KEYS_DIR_KEY, SigningKeys, keys_directory
from store.rate_limits import RateLimits
from store.secrets import SECRETS_KEY, Secrets
from store.url import URL_KEY
from usecases.application import DoseLedger
from usecases.certificate_codes import CertificateCodes
from usecases.group_commit import DoseWriter
from usecases.heap import settle_collector

DESCRIPTION = """
An event-sourced vaccination dose ledger. Every dose is an immutable event in the person's
stream; certificates, statistics and lists are projections of it.

**Try it**: press *Authorize* and paste a token (`./run serve --demo` prints one per role;
otherwise `doseledger token create --role ROLE`). Writes answer with a `position`; pass it as
`min_position` to a read to see your own write. Errors are RFC 9457 problem+json naming the
fields at fault.
"""

TAGS = [
    {"name": "doses", "description": "Record (one or a batch), amend, void. Site tokens: their own sites."},
    {"name": "persons", "description": "Register, look up, merge."},
    {"name": "certificates", "description": "The certificates projection."},
    {"name": "statistics", "description": "The statistics projection. Province tokens: their provinces."},
    {
        "name": "sites",
        "description": "The site directory and its review queue; a site's doses pulled back.",
    },
    {
        "name": "fhir",
        "description": "FHIR R4: a person's record ($everything), Immunizations by patient and "
        "date, transaction Bundles of Immunizations in.",
    },
    {
        "name": "imports",
        "description": "Retro import of spreadsheets of past doses (multipart "
        "upload). Site tokens: rows of their own sites.",
    },
    {"name": "operations", "description": "Projection status, liveness, metrics."},
    {
        "name": "audit",
        "description": "How a record reached its state, from the stored events "
        "(auditor, admin); who read whose record (admin).",
    },
    {"name": "tokens", "description": "Make, list, rotate and revoke tokens (admin). A token is shown once."},
    {
        "name": "corrections",
        "description": "Citizens' correction requests: filed (portal, site), "
        "worked by the province or site they are assigned to, "
        "checked by the citizen with no token.",
    },
    {
        "name": "trust",
        "description": "The public keys that verify the certificates: the EU DCC trust list and "
        "the SMART Health Cards JWKS (no token).",
    },
]


# Matched in this order, each included router's routes tried in turn on every request: the two
# hottest routes (a dose, a certificate) come first, and the stylesheet's mount after them all.
ROUTERS = (
    doses.router,
    certificates.router,
    persons.router,
    localities.router,
    signed.router,
    revocation_lists.router,
    statistics.router,
    sites.router,
    review.router,
    site_doses.router,
    site_tallies.router,
    fhir.router,
    operations.router,
    imports.router,
    hl7v2.router,
    cvrs.router,
    audit.router,
    audit_pages.router,
    corrections.router,
    tokens.router,
    trust.router,
    verification.router,
    docs.router,
    *PAGE_ROUTERS,
)


def create_app(
    settings: Settings | None = None,
    *,
    ledger: DoseLedger | None = None,
    views: Any = None,
    freeze_heap: bool = False,
) -> FastAPI:
    """The service; `ledger` and `views` may be given (tests), else opened from the settings.

    freeze_heap: once started, set the collector for batches (usecases.heap) and move everything
    alive (modules, the app, the models, the pools) out of its sight (gc.freeze), so full
    collections scan only what requests make.
    """
    settings = settings or Settings()
    keep_queries_out_of_the_access_log()  # lookups carry national ids and phones in the query

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened: list[Any] = []
        try:
            start(app, opened)
            yield
        finally:  # whatever was opened, also when a later step of the start failed
            for thing in reversed(opened):
                thing.close()

    def start(app: FastAPI, opened: list[Any]) -> None:
        app.state.settings = settings
        app.state.signing_keys = _signing_keys(settings)
        app.state.ledger = ledger
        if ledger is None:
            app.state.ledger = DoseLedger(env={URL_KEY: settings.database_url}, secrets=_secrets(settings))
            opened.append(app.state.ledger)
        app.state.views = views
        if views is None:
            from projections import open_views

            # The views share the ledger's database and its connection pool; their reads go to
            # the read standby when there is one.
            app.state.views = open_views(
                settings.database_url, ledger=app.state.ledger, read_url=settings.read_database_url
            )
            opened.append(app.state.views)
        # The access log's table made, and reads stored as events by an older version copied into
        # it, before the first request rather than during it.
        app.state.ledger.access_log.table()
        app.state.certificate_codes = CertificateCodes(app.state.ledger.ids)
        app.state.tokens = TokenVerifier(app.state.ledger, settings.token_cache_seconds)
        # A lost key only signs everyone out of the pages: made on first use, like the limits'.
        page_sessions.start(
            app, _secrets(settings).key(page_sessions.KEY_NAME, create=True), settings.page_session_hours
        )
        revocations = RevocationWatch(
            app.state.ledger.recorder, app.state.tokens.forget, settings.revocation_check_seconds
        )
        opened.append(revocations.start())
        counters = RateLimits(app.state.ledger.recorder.datastore, secrets=_secrets(settings))
        counters.create_table()
        app.state.status_checks = Throttle(
            "status_checks", settings.status_checks_per_minute, counters, variable("status_checks_per_minute")
        )
        # The citizens' page files correction requests at the pace of its look-ups, counted apart.
        app.state.citizen_filings = Throttle(
            "citizen_filings",
            settings.status_checks_per_minute,
            counters,
            variable("status_checks_per_minute"),
        )
        app.state.lookups = Throttle(
            "lookups", settings.lookups_per_minute, counters, variable("lookups_per_minute")
        )
        app.state.verifications = Throttle(
            "verifications",
            settings.verifications_per_minute,
            counters,
            variable("verifications_per_minute"),
        )
        # Background imports: this process's, and those of a process that stopped, taken over.
        app.state.import_jobs = ImportJobs(
            app.state.ledger,
            import_folder(settings.import_dir),
            resume_after=settings.import_resume_after_seconds,
        )
        opened.append(app.state.import_jobs.watch())
        app.state.writer = None
        if settings.group_commit_ms > 0:
            app.state.writer = DoseWriter(app.state.ledger, linger=settings.group_commit_ms / 1000)
            opened.append(app.state.writer)
        if freeze_heap:
            settle_collector()
            gc.collect()
            gc.freeze()

    app = FastAPI(
        title="doseledger",
        version="1",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        default_response_class=ORJSON,
        docs_url=None,  # served by api.docs from vendored files: no CDN
        redoc_url=None,
        lifespan=lifespan,
        telemetry={"tracing": settings.opentelemetry, "metrics": settings.opentelemetry},
    )
    problems.install(app)
    page_sessions.install(app)
    for router in ROUTERS:
        app.include_router(router)
    # The pages' stylesheet and the scripts /docs and /redoc load (api/docs.py): nothing from
    # elsewhere, so the pages work with no internet.
    app.mount("/static", StaticFiles(directory=Path(__file__).resolve().parent / "static"), name="static")
    app.add_middleware(
        BodyLimit,
        default=settings.max_body_bytes,
        by_path_suffix={
            "/batch": settings.max_batch_body_bytes,
            "/v1/hl7v2": settings.max_batch_body_bytes,
            "/v1/imports": settings.max_import_bytes,
            "/v1/cvrs": settings.max_batch_body_bytes,
        },
    )
    app.add_middleware(RequestMetrics)  # added last: outermost, so it times and counts everything
    app.openapi = lambda: _problems_as_problem_json(app)  # type: ignore[method-assign]  # FastAPI's documented way to change the document
    return app


def _secrets(settings: Settings) -> Secrets:
    return Secrets.from_env({SECRETS_KEY: settings.secrets_dir} if settings.secrets_dir else None)


def _signing_keys(settings: Settings) -> SigningKeys:
    """Without the passphrase: serving the trust list and the JWKS reads public parts only."""
    given = {KEYS_DIR_KEY: settings.signing_keys_dir} if settings.signing_keys_dir else None
    return SigningKeys(keys_directory(given))


def _problems_as_problem_json(app: FastAPI) -> dict[str, Any]:
    """Error answers are documented under the media type they are sent with."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        for operation in (op for path in schema["paths"].values() for op in path.values()):
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
        app.openapi_schema = schema
    return app.openapi_schema


def from_environment() -> FastAPI:
    """uvicorn's factory (`api.app:from_environment`): each worker builds its app from the env."""
    return create_app(freeze_heap=True)
