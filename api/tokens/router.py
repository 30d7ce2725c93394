"""Tokens over HTTP, for admins: the same use cases as `doseledger token` (usecases/principals.py).

A new token is in the answer that makes it and nowhere else (`Cache-Control: no-store`); a
principal is named by its id in paths, never by its token (URLs end up in logs). A revocation
here is forgotten by this worker's token cache at once and by every other worker within
`DOSELEDGER_REVOCATION_CHECK_SECONDS` (api/revocations.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from api.auth import TokenVerifier, actor
from api.dependencies import AdminPrincipal, Ledger
from api.listing import Column, Listing, PageQuery, answer
from api.models import READS, WRITES, problems
from api.problems import ledger_problem
from api.tokens.models import (
    RevocationIn,
    RotationIn,
    TokenIn,
    TokenInfo,
    TokenIssued,
    TokenList,
    TokenRotated,
    info,
)
from ledger.errors import LedgerError
from ledger.principal import Principal
from usecases.principals import issue_token, principals, revoke_token, rotate_token

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])

# The use cases name their inputs as the CLI's options do; the body names them so.
BODY_FIELDS = {"site": "sites", "province": "provinces", "expires": "expires_at"}
NO_STORE = {"Cache-Control": "no-store"}


@contextmanager
def body_fields(request: Request) -> Iterator[None]:
    try:
        yield
    except LedgerError as error:
        error.field = BODY_FIELDS.get(error.field, error.field)
        raise ledger_problem(error, request) from None


@router.post(
    "",
    status_code=201,
    response_model=TokenIssued,
    responses=WRITES,
    summary="Make a token (admin): its secret is in this answer only",
)
def create(
    body: TokenIn, request: Request, response: Response, principal: AdminPrincipal, ledger: Ledger
) -> dict[str, Any]:
    with body_fields(request):
        token, made = issue_token(
            ledger,
            role=body.role,
            sites=body.sites,
            provinces=body.provinces,
            name=body.name,
            expires_at=body.expires_at,
            actor=actor(principal).as_data(),
        )
    response.headers.update(NO_STORE)
    return {**info(made), "token": token}


TOKENS = Listing[Principal](
    name="tokens",
    columns=(
        Column("principal_id", "Principal id"),
        Column("role", "Role"),
        Column("sites", "Sites"),
        Column("provinces", "Provinces"),
        Column("name", "Name"),
        Column("expires_at", "Expires at"),
        Column("issued_at", "Issued at"),
        Column("revoked", "Revoked"),
    ),
    # Oldest first, as `principals` answers: the issue time, then the id (never the name).
    key=lambda p: (p.created_on.astimezone(UTC).isoformat(timespec="microseconds"), str(p.id)),
    to_dict=lambda p: TokenInfo.model_validate(info(p)).model_dump(mode="json"),
    items_key="tokens",
    key_types=(str, str),
)


@router.get(
    "",
    response_model=TokenList,
    responses=READS,
    summary="List the tokens' principals (admin): never a token itself",
    description="Oldest first. Without `limit` or `cursor`, every one (as this list always "
    "answered); with them, a page and its `next_cursor` (and a `Link` header). `format=csv|xlsx` "
    "(or `Accept`): the whole list as a file.",
)
def list_tokens(
    request: Request,
    principal: AdminPrincipal,
    ledger: Ledger,
    page: PageQuery,
    role: Annotated[str | None, Query(description="only this role's")] = None,
    revoked: Annotated[bool | None, Query(description="only revoked (true) or valid (false) ones")] = None,
) -> Response:
    with body_fields(request):
        # One scan of the principals' events per request (they are folded from it, not looked
        # up): the pages of an export are cut from it.
        found = principals(ledger, role=role, revoked=revoked)

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[Principal]:
        rest = found if after is None else [p for p in found if TOKENS.key(p) > after]
        return rest[:limit]

    return answer(request, TOKENS, page, fetch, default_limit=None)


@router.post(
    "/{principal_id}/revocation",
    response_model=TokenInfo,
    responses={**WRITES, **problems(404, 409)},
    summary="Revoke a token (admin), with a reason: every worker refuses it within a second",
)
def revoke(
    principal_id: UUID, body: RevocationIn, request: Request, principal: AdminPrincipal, ledger: Ledger
) -> dict[str, Any]:
    with body_fields(request):
        revoked = revoke_token(ledger, str(principal_id), body.reason, actor=actor(principal).as_data())
    _forget(request, revoked.id)
    return info(revoked)


@router.post(
    "/{principal_id}/rotation",
    status_code=201,
    response_model=TokenRotated,
    responses={**WRITES, **problems(404, 409)},
    summary="A new token for the same role and scope (admin); the old one revoked in the same write",
)
def rotate(
    principal_id: UUID,
    body: RotationIn,
    request: Request,
    response: Response,
    principal: AdminPrincipal,
    ledger: Ledger,
) -> dict[str, Any]:
    with body_fields(request):
        token, made, old = rotate_token(
            ledger, principal_id, body.reason, expires_at=body.expires_at, actor=actor(principal).as_data()
        )
    _forget(request, old.id)
    response.headers.update(NO_STORE)
    return {**info(made), "token": token, "replaces": old.id}


def _forget(request: Request, principal_id: UUID) -> None:
    """This worker refuses the token at once; the others when their watch next looks."""
    tokens: TokenVerifier = request.app.state.tokens
    tokens.forget([principal_id])
