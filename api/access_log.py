"""Recording reads of people's records by auditors and province officials (ledger.access).

Called by an endpoint after it has found what it will answer and before the answer leaves:
if the read cannot be recorded (the store is down), the data is not served either.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from fastapi import Request

from ledger.access import RECORDED_ROLES
from ledger.principal import Principal
from usecases.access_log import record_read


def recorded_read(
    request: Request, principal: Principal, person_ids: Iterable[UUID | str | Any], what: str
) -> None:
    if principal.role in RECORDED_ROLES:
        record_read(request.app.state.ledger, str(principal.id), principal.role, person_ids, what)
