"""`POST /v1/hl7v2`: HL7 v2.5.1 VXU^V04, one message or a batch (FHS/BHS or bare MSH), in the
body as sent (`Content-Type: application/hl7-v2` or text); the answer is one ACK per message,
in order, as `application/hl7-v2` (UTF-8).

Who: `site` (messages for its own sites: another site's message is answered AR and books
nothing) and `admin` (any site). The ACKs carry each message's outcome, so the HTTP status is
200 whenever the body was read as HL7; an empty body or one of another media type is a 4xx
problem, as on every route.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api import metrics
from api.auth import actor
from api.dependencies import AppSettings, Ledger, SitePrincipal
from api.models import WRITES, problems
from api.problems import Problem, field_error
from intake.feeds import ALREADY_BOOKED, BOOKED, FLAGGED
from intake.hl7v2 import MEDIA_TYPE, receive
from ledger.principal import SITE

router = APIRouter(prefix="/v1/hl7v2", tags=["hl7v2"])

# What senders label HL7 v2 with: the registered type, its older spelling, text, raw bytes.
MEDIA_TYPES = ("application/hl7-v2", "x-application/hl7-v2+er7", "text/", "application/octet-stream")

EXAMPLE = (
    "MSH|^~\\&|EHR|HN-001|DOSELEDGER||20210801093000||VXU^V04^VXU_V04|MSG0001|P|2.5.1\r"
    "PID|1||P42^^^HN-001^MR||Nguyen^Hoa^Thi||19900203|F|||^^^01\r"
    "ORC|RE||R-0001\r"
    "RXA|0|1|20210801||208^Comirnaty^CVX|0.3|mL||00||^^^HN-001||||FA1234|||||CP|A\r"
)
BODY = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": {"type": "string"}, "example": EXAMPLE} for media in (MEDIA_TYPE, "text/plain")
        },
    }
}
ACKS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "one ACK per message, in order (MSA AA / AE / AR, ERR per issue)",
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}


@router.post(
    "",
    response_class=Response,
    responses={**ACKS, **WRITES, **problems(415, 422)},
    openapi_extra=BODY,
    summary="Send HL7 v2 VXU^V04 messages (one or a batch): an ACK per message",
)
async def receive_messages(
    request: Request,
    principal: SitePrincipal,
    ledger: Ledger,
    settings: AppSettings,
    profile: Annotated[
        Literal["cdc-covid"] | None,
        Query(description="a message profile whose faults the ACKs report as warnings (W)"),
    ] = None,
) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and not media.startswith(MEDIA_TYPES):
        raise Problem(415, "unsupported-media-type", f"send HL7 v2 as {MEDIA_TYPE}, not {media}")
    data = await request.body()
    if not data.strip():
        detail = "is empty: send one HL7 v2 message or a batch"
        raise Problem(422, "validation", f"body: {detail}", errors=[field_error(["body"], detail)])
    acks = await run_in_threadpool(
        receive,
        ledger,
        data,
        actor(principal),
        allowed_sites=sorted(principal.sites) if principal.role == SITE else None,
        default_province=settings.feed_default_province,
        test_codes=settings.feed_test_codes,
        profile=profile,
    )
    counts = Counter(o.status for a in acks for o in a.outcomes)
    metrics.recorded(created=counts[BOOKED] + counts[FLAGGED], duplicates=counts[ALREADY_BOOKED])
    metrics.rejected("hl7v2", sum(1 for a in acks if a.code != "AA"))
    return Response("".join(a.ack for a in acks).encode("utf-8"), media_type=f"{MEDIA_TYPE}; charset=utf-8")
