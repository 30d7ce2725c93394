"""Authentication (a bearer token → its principal) and authorisation (role, then scope).

Roles: admin (everything); site (its own sites); province (reads of its provinces);
auditor (reads everything, writes nothing); reporter (statistics and projection status);
portal (the citizen portal: correction requests, which come with their own issue).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBearer

from api.problems import forbidden, unauthenticated
from ledger.names import clean
from ledger.principal import ADMIN, PROVINCE, SITE, Principal, principal_id_for
from ledger.rules import now_ict
from ledger.values import Actor
from usecases.principals import find_principal

TOKEN_HELP = (
    "A token made by `doseledger token create --role ROLE ...` (`./run serve --demo` prints one per role)."
)


class TokenVerifier:
    """Finds a token's principal; remembers it for `ttl` seconds, unless told of its revocation
    sooner (`forget`: api/revocations.py tells every worker within a second)."""

    def __init__(
        self, ledger: Any, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.ttl = ttl
        self.max_entries = max_entries
        self._known: OrderedDict[Any, tuple[float, Principal]] = OrderedDict()
        # Revocation is for good: a principal once known revoked is refused without a look-up,
        # also when a read that began before the revocation comes back with the old state.
        # Bounded by the revocations this process hears of (a few, next to the tokens).
        self._revoked: set[UUID] = set()
        self._lock = threading.Lock()

    def known(self, token: str) -> Principal | None:
        """The token's principal if verified within `ttl` (no I/O: fine on the event loop);
        401 if it is known revoked."""
        key = principal_id_for(token)
        with self._lock:
            if key in self._revoked:
                raise unauthenticated("the bearer token was revoked")
            hit = self._known.get(key)
        return hit[1] if hit is not None and hit[0] > self.clock() else None

    def forget(self, principal_ids: Iterable[UUID]) -> None:
        """These principals were revoked: refuse their tokens from now on."""
        with self._lock:
            for principal_id in principal_ids:
                self._known.pop(principal_id, None)
                self._revoked.add(principal_id)

    def principal(self, token: str) -> Principal:
        """The token's principal, from memory or from the store; 401 unless it is valid now."""
        return self.by_id(principal_id_for(token))

    def by_id(self, key: UUID) -> Principal:
        """The principal `key` (a token's id: the pages' session names it, never the token),
        from memory or from the store; 401 unless its token is valid now."""
        with self._lock:
            if key in self._revoked:
                raise unauthenticated("the bearer token was revoked")
            hit = self._known.get(key)
        found = hit[1] if hit is not None and hit[0] > self.clock() else None
        if found is None:
            found = find_principal(self.ledger, key)
            if found is not None:
                with self._lock:
                    if key in self._revoked:  # revoked while it was being read
                        raise unauthenticated("the bearer token was revoked")
                    self._known[key] = (self.clock() + self.ttl, found)
                    self._known.move_to_end(key)
                    while len(self._known) > self.max_entries:
                        self._known.popitem(last=False)
        return self.valid(found)

    @staticmethod
    def valid(found: Principal | None) -> Principal:
        if found is None:
            raise unauthenticated("the bearer token is not known")
        if found.revoked:
            raise unauthenticated("the bearer token was revoked")
        if not found.valid_at(now_ict()):
            raise unauthenticated("the bearer token has expired")
        return found


class Allow(HTTPBearer):
    """The roles that may call a route (admin always may). The authz tests read `roles`.

    One dependency, not a chain (bearer → caller → role check): FastAPI solves each level of a
    chain on every request, and on the hot paths that cost more than the dose's own checks or
    the certificate's read. So it is the bearer scheme itself (the OpenAPI document's "token"
    security scheme, which every Allow shares), not a dependency on one.
    """

    def __init__(self, *roles: str) -> None:
        super().__init__(auto_error=False, scheme_name="token", description=TOKEN_HELP)
        self.roles = frozenset({ADMIN, *roles})

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]  # answers the principal, not the credentials
        credentials = await super().__call__(request)
        if credentials is None or not credentials.credentials:
            raise unauthenticated("send an Authorization: Bearer <token> header")
        tokens: TokenVerifier = request.app.state.tokens
        principal = tokens.known(credentials.credentials)
        if principal is not None:
            principal = tokens.valid(principal)
        else:  # not in memory: ask the store, off the event loop
            principal = await run_in_threadpool(tokens.principal, credentials.credentials)
        if principal.role not in self.roles:
            raise forbidden(f"a {principal.role} token may not call this endpoint")
        return principal


def actor(principal: Principal) -> Actor:
    return Actor(str(principal.id), principal.role)


def acts_for(principal: Principal, site_id: str) -> bool:
    """A site token acts only for its own sites (compared in the ledger's stored form)."""
    return principal.role != SITE or clean(site_id) in principal.sites


def province_scope(principal: Principal) -> list[str] | None:
    """The provinces a token may read; None means all of them."""
    return list(principal.provinces) if principal.role == PROVINCE else None


def require_province(principal: Principal, province: str | None, loc: list[Any]) -> None:
    own = province_scope(principal)
    if own is not None and province not in own:
        raise forbidden(f"this token may not read province {province!r}", loc)


def narrow_provinces(principal: Principal, requested: list[str], loc: list[Any]) -> list[str] | None:
    """The provinces a query covers: what was asked, within the token's scope."""
    own = province_scope(principal)
    if own is None:
        return requested or None
    for province in requested:
        require_province(principal, province, loc)
    return requested or own
