"""Logging a read of people's data, by any role, in the access log (usecases.access_log).

Called by an endpoint once it has found what it will answer and before the answer leaves. The
read is buffered (no I/O here, so an async endpoint may call it on the loop); a log that cannot
keep up refuses the read (503) rather than serve it unlogged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from fastapi import Request

from ledger.principal import Principal


def recorded_read(
    request: Request, principal: Principal, person_ids: Iterable[UUID | str | Any], what: str
) -> None:
    client = request.client.host if request.client is not None else None
    request.app.state.ledger.access_log.record(str(principal.id), principal.role, person_ids, what, client)
