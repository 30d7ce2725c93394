"""`POST /v1/verify`: anyone may ask whether a QR payload is genuine, without a token.

It reads no personal data from the ledger (the payload is the caller's own), so it is not an
access-log read; it is rate-limited per client address, as the citizens' status checks are,
since each call costs a signature check. Revocation is looked up in the issuances view; with a
caller's own trust list the answer is what a verifier elsewhere would compute from it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from api.models import problems
from api.problems import Problem, field_error
from api.throttle import Throttle, client_address
from api.verify.models import VerifyAnswer, VerifyRequest
from signing.keys import SigningKeys
from signing.trust import TrustList
from signing.verify import verify_qr

router = APIRouter(prefix="/v1", tags=["certificates"])
TRUST_SECONDS = 60  # a rotation made by another process reaches the verifier within this


async def _throttled(request: Request) -> None:
    throttle: Throttle = request.app.state.verifications
    await throttle.check_on_loop(client_address(request), "verifications from this address")


@router.post(
    "/verify",
    response_model=VerifyAnswer,
    responses=problems(422, 429),
    dependencies=[Depends(_throttled)],
    summary="Verify an EU DCC (`HC1:`) or SMART Health Card (`shc:/`) payload: no token",
)
def verify(body: VerifyRequest, request: Request) -> dict[str, Any]:
    at = body.at or datetime.now(UTC)
    if at.tzinfo is None:
        raise Problem(
            422, "invalid", "`at` needs a time zone", errors=[field_error(["body", "at"], "no time zone")]
        )
    verdict = verify_qr(
        body.qr, _trust(request, body), at=at, revocations=ViewRevocations(request.app.state.views)
    )
    return verdict.as_dict()


def _trust(request: Request, body: VerifyRequest) -> TrustList:
    if body.trust_list is not None or body.jwks is not None:
        trust = TrustList()
        if body.trust_list is not None:
            try:
                trust = TrustList.from_gateway(body.trust_list)
            except (KeyError, TypeError, ValueError) as error:
                msg = f"not a trust list of DSCs (`kid`, `rawData`: base64 DER): {error.__class__.__name__}"
                raise Problem(
                    422, "invalid", msg, errors=[field_error(["body", "trust_list"], msg)]
                ) from None
        if body.jwks is not None:
            if not body.issuer:
                msg = "a JWKS needs the issuer URL it belongs to"
                raise Problem(422, "invalid", msg, errors=[field_error(["body", "issuer"], msg)])
            try:
                trust.add_jwks(body.issuer, body.jwks)
            except ValueError as error:
                raise Problem(
                    422, "invalid", str(error), errors=[field_error(["body", "jwks"], str(error))]
                ) from None
        return trust
    return deployment_trust(request.app)


def deployment_trust(app: Any) -> TrustList:
    """This deployment's DSCs and SHC keys, current and retired, read again every minute."""
    cached = getattr(app.state, "trust", None)
    if cached is not None and time.monotonic() - cached[0] < TRUST_SECONDS:
        return cached[1]  # type: ignore[no-any-return]
    keys: SigningKeys = app.state.signing_keys
    trust = keys.trust(app.state.settings.certificate_issuer_url)
    app.state.trust = (time.monotonic(), trust)
    return trust


class ViewRevocations:
    """The issuances view as a verifier's revocation list."""

    def __init__(self, views: Any) -> None:
        self.issuances = views.issuances

    def dcc_revoked(self, uvci: str, country: str) -> str | None:
        reason: str | None = self.issuances.is_revoked_uvci(uvci)
        return reason

    def shc_revoked(self, issuer: str, kid: str, rid: str, nbf: int) -> str | None:
        reason: str | None = self.issuances.is_revoked_rid(kid, rid)
        return reason
