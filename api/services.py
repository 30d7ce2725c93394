"""What the endpoints call: this process's ledger and projection views (made at start-up)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from api.problems import Problem
from ledger.application import Actor, DoseLedger, DoseReceipt


def ledger_of(request: Request) -> DoseLedger:
    return request.app.state.ledger


def record_dose(request: Request, actor: Actor, fields: dict[str, Any]) -> DoseReceipt:
    """One dose, through the group-commit writer when there is one."""
    writer = request.app.state.writer
    if writer is not None:
        return writer.record(actor=actor, **fields)
    return request.app.state.ledger.record_dose(actor=actor, **fields)


def views_of(request: Request) -> Any:
    return request.app.state.views


def caught_up(request: Request, min_position: int | None) -> None:
    """Read-your-writes: wait (bounded) until the projections have reached a writer's position."""
    if not min_position:
        return
    timeout = request.app.state.settings.read_wait_seconds
    if not request.app.state.views.wait(min_position, timeout):
        raise Problem(503, "unavailable", f"the projections have not reached position "
                      f"{min_position} within {timeout:g} s; retry shortly",
                      headers={"Retry-After": "1"})
