"""Logging a read of people's data, by any role, in the access log (usecases.access_log).

Called by an endpoint once it has found what it will answer and before the answer leaves. The
read is buffered (no I/O here, so an async endpoint may call it on the loop); a log that cannot
keep up refuses the read (503) rather than serve it unlogged; a list's pages, an export's
especially, wait for it instead (`recorded_page_read`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from fastapi import Request

from ledger.principal import Principal
from usecases.access_log import AccessLogUnavailable


def recorded_read(
    request: Request, principal: Principal, person_ids: Iterable[UUID | str | Any], what: str
) -> None:
    client = request.client.host if request.client is not None else None
    request.app.state.ledger.access_log.record(str(principal.id), principal.role, person_ids, what, client)


def recorded_page_read(
    request: Request, principal: Principal, person_ids: Iterable[UUID | str | Any], what: str
) -> None:
    """A read of one page of a list (the `seen` of api.listing's `answer`): an export reads
    page after page faster than the log's writer stores them, and a refusal there would end the
    file partway. So a full backlog is stored now and the page logged after it. Never on the
    event loop: a sync route's or an export's own thread (listing's pages run there). A store
    that is down still refuses, and the list stops at that page: nothing leaves unlogged."""
    ids = list(person_ids)
    if not ids:
        return
    try:
        recorded_read(request, principal, ids, what)
    except AccessLogUnavailable:
        request.app.state.ledger.access_log.flush()
        recorded_read(request, principal, ids, what)
