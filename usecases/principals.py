"""Issuing, finding and revoking the principals that may call the ledger."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger import rules
from ledger.errors import InvalidValue, NotFound
from ledger.principal import TOKEN_PREFIX, Principal, principal_id_for, scope


def issue_token(
    ledger: Any,
    *,
    role: str,
    sites: Iterable[str] = (),
    provinces: Iterable[str] = (),
    name: str | None = None,
    expires_at: datetime | None = None,
    actor: dict[str, str],
) -> tuple[str, Principal]:
    """A new random token and its principal; the token itself is returned once, never stored."""
    site_ids, codes = scope(role, sites, provinces)
    name = rules.text(name, "name", max_len=200, required=False)
    if expires_at is not None and expires_at.tzinfo is None:
        raise InvalidValue("expires", "needs a time zone")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    principal = Principal.issue(
        principal_id_for(token),
        str(role),
        site_ids,
        codes,
        name,
        expires_at.isoformat() if expires_at else None,
        actor,
    )
    ledger.save(principal)
    return token, principal


def find_principal(ledger: Any, principal_id: UUID) -> Principal | None:
    try:
        found = ledger.repository.get(principal_id)
    except AggregateNotFoundError:
        return None
    return found if isinstance(found, Principal) else None


def revoke_token(ledger: Any, token_or_id: str, reason: str, *, actor: dict[str, str]) -> Principal:
    """Revoke by the principal's id (printed when the token was made) or by the token itself."""
    reason = rules.reason(reason)
    try:
        principal_id = UUID(token_or_id)
    except ValueError:
        principal_id = principal_id_for(token_or_id)
    principal = find_principal(ledger, principal_id)
    if principal is None:
        raise NotFound("principal_id", "no principal has this id or token")
    principal.revoke(reason, actor)
    ledger.save(principal)
    return principal
