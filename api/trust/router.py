"""`GET /v1/trust-list` and `GET /.well-known/jwks.json`: no token, cacheable, open to any origin.

Verifiers fetch these to check certificates offline: the DSC list in the EU gateway's shape, the
JWKS where SMART Health Cards say an issuer publishes it (`{iss}/.well-known/jwks.json`, which
the specification requires to be readable cross-origin). Every key ever made is listed, so a
certificate signed before a rotation keeps verifying. With no keys yet, both are empty.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api.trust.models import DscEntry, Jwks
from signing.keys import SigningKeys

router = APIRouter(tags=["trust"])

# Five minutes: a rotation reaches verifiers quickly, and the files are not read per scan.
PUBLIC_CACHE = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}


def _keys(request: Request) -> SigningKeys:
    keys: SigningKeys = request.app.state.signing_keys
    return keys


@router.get(
    "/v1/trust-list",
    response_model=list[DscEntry],
    summary="The document signer certificates (EU DCC) of every key ever made (no token needed)",
)
def trust_list(request: Request, response: Response) -> list[dict[str, Any]]:
    response.headers.update(PUBLIC_CACHE)
    return _keys(request).trust_list()


@router.get(
    "/.well-known/jwks.json",
    response_model=Jwks,
    summary="The SMART Health Cards issuer's public keys, every one ever made (no token needed)",
)
def jwks(request: Request, response: Response) -> dict[str, Any]:
    response.headers.update(PUBLIC_CACHE)
    return _keys(request).jwks()
