"""Who may call the ledger: a principal holds one API token, a role and a scope.

Only the sha256 of a token is ever known to the store: the principal's id is derived from it
(uuid5), so finding the principal of a presented token is one `repository.get`, and a leaked
event stream reveals no token. A principal is revoked by a new event, never deleted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import event

from ledger import rules
from ledger.chain import ChainedAggregate
from ledger.errors import Conflict, InvalidValue
from ledger.keys import NAMESPACE
from ledger.values import Role

ADMIN, SITE, PROVINCE, AUDITOR, REPORTER, PORTAL = (
    Role.ADMIN,
    Role.SITE,
    Role.PROVINCE,
    Role.AUDITOR,
    Role.REPORTER,
    Role.PORTAL,
)
ROLES = tuple(Role)
TOKEN_PREFIX = "dl_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal_id_for(token: str) -> UUID:
    return uuid5(NAMESPACE, f"token/{token_hash(token)}")


class Principal(ChainedAggregate):
    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        TokenIssued: ClassVar[type[ChainedAggregate.Created]]
        TokenRevoked: ClassVar[type[ChainedAggregate.Event]]

    @event("TokenIssued")
    def __init__(
        self,
        role: str,
        sites: list[str],
        provinces: list[str],
        name: str | None,
        expires_at: str | None,
        actor: dict[str, str],
    ) -> None:
        self.role = role
        self.sites = sites
        self.provinces = provinces
        self.name = name
        self.expires_at = expires_at
        self.revoked = False

    @classmethod
    def issue(
        cls,
        principal_id: UUID,
        role: str,
        sites: list[str],
        provinces: list[str],
        name: str | None,
        expires_at: str | None,
        actor: dict[str, str],
    ) -> Principal:
        return cls._create(
            cls.TokenIssued,
            id=principal_id,
            role=str(role),
            sites=sites,
            provinces=provinces,
            name=name,
            expires_at=expires_at,
            actor=actor,
        )

    def valid_at(self, moment: datetime) -> bool:
        if self.revoked:
            return False
        return self.expires_at is None or moment < datetime.fromisoformat(self.expires_at)

    def revoke(self, reason: str, actor: dict[str, str]) -> None:
        if self.revoked:
            raise Conflict("principal_id", f"principal {self.id} is already revoked")
        self._token_revoked(reason=reason, actor=actor)

    @event("TokenRevoked")
    def _token_revoked(self, reason: str, actor: dict[str, str]) -> None:
        self.revoked = True


def scope(role: str, sites: Iterable[str], provinces: Iterable[str]) -> tuple[list[str], list[str]]:
    """A site token names its sites, a province token its provinces; no other role has a scope."""
    if role not in ROLES:
        raise InvalidValue("role", f"must be one of {', '.join(ROLES)}")
    site_ids = sorted({rules.text(s, "site", max_len=64) for s in sites})
    codes = sorted({rules.province(p) for p in provinces})
    if role == SITE and not site_ids:
        raise InvalidValue("site", "a site token needs at least one site")
    if role == PROVINCE and not codes:
        raise InvalidValue("province", "a province token needs at least one province")
    if site_ids and role != SITE:
        raise InvalidValue("site", "only a site token names sites")
    if codes and role != PROVINCE:
        raise InvalidValue("province", "only a province token names provinces")
    return site_ids, codes
