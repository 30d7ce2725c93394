"""The public revocation lists, for verifiers anywhere (no token): the EU DCC revocation list
(hashes of revoked UVCIs by key id) and each SMART Health Card key's CRL, at the path the SHC
specification gives it. Neither holds anything personal, and both may be cached for a while.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from api.dependencies import Views
from api.models import problems
from api.problems import Problem, field_error
from api.responses import ORJSON
from api.signed.models import RevocationBatch, RevocationList

router = APIRouter(tags=["certificates"])

PUBLIC = {"Cache-Control": "public, max-age=300"}


@router.get(
    "/v1/revocations",
    response_model=list[RevocationBatch],
    responses=problems(422, 503),
    summary="The EU DCC revocation list: per key id, hashes of the revoked certificates (no token)",
    description="Oldest revocations first, `limit` revoked certificates a page, each listed under its "
    'key id once per hash type. The next page\'s URL is in the `Link` header (`rel="next"`); '
    "keep the last page's cursor to read later only what was revoked since.",
)
async def revocations(
    request: Request,
    views: Views,
    cursor: Annotated[str | None, Query(max_length=200, description="from a previous page's Link")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="revoked certificates a page")] = 1000,
) -> Response:
    batches, following = await run_in_threadpool(views.issuances.revoked_dcc, cursor, limit)
    headers = dict(PUBLIC)
    if following is not None:
        url = request.url.include_query_params(cursor=following, limit=limit)
        headers["Link"] = f'<{url}>; rel="next"'
        headers["X-Next-Cursor"] = following
    return ORJSON(batches, headers=headers)


@router.get(
    "/.well-known/crl/{kid}.json",
    response_model=RevocationList,
    responses=problems(404, 422, 503),
    summary="A SMART Health Card key's revocation list (no token)",
)
async def crl(kid: str, views: Views) -> Any:
    found = await run_in_threadpool(views.issuances.crl, kid)
    if found is None:
        msg = "no card was signed with this key"
        raise Problem(404, "not-found", msg, errors=[field_error(["path", "kid"], msg)])
    return ORJSON(found, headers=PUBLIC)
