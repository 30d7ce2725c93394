"""Issuing, finding, listing, rotating and revoking the principals that may call the ledger."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic

from ledger import rules
from ledger.errors import InvalidValue, NotFound
from ledger.principal import ROLES, TOKEN_PREFIX, Principal, principal_id_for, scope
from store.event_store import by_stream


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
    token, principal = _issued(role, sites, provinces, name, expires_at, actor)
    ledger.save(principal)
    return token, principal


def _issued(
    role: str,
    sites: Iterable[str],
    provinces: Iterable[str],
    name: str | None,
    expires_at: datetime | None,
    actor: dict[str, str],
) -> tuple[str, Principal]:
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
    return token, principal


def find_principal(ledger: Any, principal_id: UUID) -> Principal | None:
    try:
        found = ledger.repository.get(principal_id)
    except AggregateNotFoundError:
        return None
    return found if isinstance(found, Principal) else None


def principals(ledger: Any, *, role: str | None = None, revoked: bool | None = None) -> list[Principal]:
    """Every principal (of a role; revoked or not), oldest first: folded from one scan of their
    events, not a look-up each (a country has tens of thousands of site tokens)."""
    if role is not None and role not in ROLES:
        raise InvalidValue("role", f"must be one of {', '.join(ROLES)}")
    topics = [get_topic(Principal.TokenIssued), get_topic(Principal.TokenRevoked)]
    found = []
    for stream in by_stream(ledger.recorder.scan_streams(topics)):
        principal = None
        for record in stream:
            principal = ledger.mapper.to_domain_event(record).mutate(principal)
        if not isinstance(principal, Principal):
            continue
        if (role is None or principal.role == role) and (revoked is None or principal.revoked == revoked):
            found.append(principal)
    return sorted(found, key=lambda p: (p.created_on, str(p.id)))


def rotate_token(
    ledger: Any,
    principal_id: UUID,
    reason: str | None,
    *,
    expires_at: datetime | None = None,
    actor: dict[str, str],
) -> tuple[str, Principal, Principal]:
    """A new token for the same role, scope and name (and expiry, unless given), the old one
    revoked, in one transaction: (the new token, the new principal, the old principal)."""
    old = find_principal(ledger, principal_id)
    if old is None:
        raise NotFound("principal_id", "no principal has this id")
    reason = rules.reason(reason or "rotated")
    expiry = expires_at if expires_at is not None else _expiry(old.expires_at)
    if expiry is not None and expiry <= datetime.now(UTC):
        # A token born expired would leave its holder with none at all once the old is revoked.
        raise InvalidValue("expires_at", "this expiry has passed: give a new one to rotate the token")
    token, new = _issued(old.role, old.sites, old.provinces, old.name, expiry, actor)
    old.revoke(f"{reason} (rotated to {new.id})", actor)
    ledger.save(new, old)
    return token, new, old


def _expiry(stored: str | None) -> datetime | None:
    return datetime.fromisoformat(stored) if stored else None


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
