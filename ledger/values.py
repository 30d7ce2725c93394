"""Values the domain's events and decisions share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who causes an event: a principal and the role it acted in."""

    principal_id: str
    role: str

    def as_data(self) -> dict[str, str]:
        return {"principal_id": self.principal_id, "role": self.role}


SYSTEM = Actor("system", "system")
