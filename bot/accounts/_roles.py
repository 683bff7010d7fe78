"""Roles and organisation kinds, and the identity every console feature checks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .._exceptions import NotAllowed
from ..storage._db import AgentRole as Role
from ..storage._db import OrganisationKind as OrgKind

__all__ = ["CSO_ROLES", "ROLE_RANK", "OrgKind", "Role", "Viewer", "require_role"]

# The handoff ladder: a CSO agent < a CSO supervisor < an administrator. The ministry and
# secretariat roles are not on it: they see their own features, not the CSOs' queues.
ROLE_RANK: dict[str, int] = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}
CSO_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class Viewer:
    """The logged-in console user, as every feature needs to know them."""

    agent_id: int
    organisation_id: int
    role: str
    display_name: str = ""

    @property
    def is_admin(self) -> bool:
        """Admins see and administer every organisation."""
        return self.role == Role.ADMIN

    @property
    def is_supervisor(self) -> bool:
        """Supervisors (and admins) watch queues and transfer conversations."""
        return self.role in (Role.SUPERVISOR, Role.ADMIN)

    def may_see(self, organisation_id: int) -> bool:
        """Conversations are visible inside the agent's own organisation only."""
        return self.is_admin or organisation_id == self.organisation_id

    def has_any(self, roles: Iterable[str]) -> bool:
        """Whether the viewer's role is one of ``roles`` (a feature's audience)."""
        return self.role in frozenset(roles)


def require_role(viewer: Viewer, role: str) -> None:
    """agent < supervisor < admin on the handoff ladder; NotAllowed (403) below ``role``."""
    if ROLE_RANK.get(viewer.role, -1) < ROLE_RANK[role]:
        raise NotAllowed(f"this needs the {role} role")
