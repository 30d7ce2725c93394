"""/docs (Swagger UI) and /redoc from this service's own files, never a CDN.

A ministry network often has no internet: FastAPI's default pages load their scripts from
jsDelivr and show a blank page there. The npm packages' files are vendored under
api/static/vendor/ (their versions and integrity in its README) and served from /static.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

SWAGGER = "/static/vendor/swagger-ui-dist"
REDOC = "/static/vendor/redoc"
OPENAPI = "/openapi.json"

router = APIRouter(include_in_schema=False)

# The pages ask this service only: redoc's sidebar would otherwise fetch its maker's logo from
# cdn.redoc.ly (it hides the image when that fails). Inline: FastAPI's page starts Swagger UI
# with an inline script; both draw icons from data: URLs; redoc's search runs in a blob: worker.
POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _own_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = POLICY
    return page


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    return _own_only(
        get_swagger_ui_html(
            openapi_url=OPENAPI,
            title="doseledger — API",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        )
    )


@router.get("/redoc", response_class=HTMLResponse)
def redoc() -> HTMLResponse:
    return _own_only(
        get_redoc_html(
            openapi_url=OPENAPI,
            title="doseledger — API",
            redoc_js_url=f"{REDOC}/redoc.standalone.js",
            redoc_favicon_url=f"{SWAGGER}/favicon-32x32.png",
            with_google_fonts=False,  # fonts.googleapis.com: not reachable offline either
        )
    )
