"""What several endpoints do: record a dose (through the group-commit writer), wait for the views."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from api.problems import Problem
from ledger.values import Actor
from usecases.application import DoseReceipt
from usecases.group_commit import receipt_of

WRITER_TIMEOUT = 30.0  # seconds; a writer that has not answered by then is reported as contention


async def record_dose(request: Request, actor: Actor, fields: dict[str, Any]) -> DoseReceipt:
    """One dose, through the group-commit writer when there is one. The event loop awaits the
    writer's answer instead of parking a thread on it: no threadpool hop per dose."""
    writer = request.app.state.writer
    if writer is None:
        return await run_in_threadpool(request.app.state.ledger.record_dose, actor=actor, **fields)
    async with asyncio.timeout(WRITER_TIMEOUT):
        return receipt_of(await writer.decide(actor=actor, **fields))


def caught_up(request: Request, min_position: int | None) -> None:
    """Read-your-writes: wait (bounded) until the projections have reached a writer's position."""
    if not min_position:
        return
    timeout = request.app.state.settings.read_wait_seconds
    if not request.app.state.views.wait(min_position, timeout):
        raise Problem(
            503,
            "unavailable",
            f"the projections have not reached position {min_position} within {timeout:g} s; retry shortly",
            headers={"Retry-After": "1"},
        )
