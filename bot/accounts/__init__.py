"""Accounts, used by every console feature and the command line: organisations (ministry,
secretariat, CSO, national pool), people (console users) with their roles, passwords and
console sessions.

Public surface::

    from bot.accounts import Role, OrgKind, Viewer, require_role
    from bot.accounts import Admin, AdminRules        # organisations and people
    from bot.accounts import Sessions, LoginRefused   # logins and sessions
    from bot.accounts import hash_password, verify_password
"""

from __future__ import annotations

from ._admin import (
    LANGUAGES,
    NATIONAL_POOL_NAME,
    NATIONAL_POOL_SLUG,
    Admin,
    AdminRules,
    AgentInfo,
    OrgInfo,
    Places,
    ensure_national_pool,
    generate_password,
    load_topics,
)
from ._passwords import MIN_PASSWORD_CHARS, hash_password, verify_password
from ._roles import CSO_ROLES, ROLE_RANK, OrgKind, Role, Viewer, require_role
from ._sessions import LoginRefused, LoginThrottle, Session, Sessions, token_hash

__all__ = [
    "CSO_ROLES",
    "LANGUAGES",
    "MIN_PASSWORD_CHARS",
    "NATIONAL_POOL_NAME",
    "NATIONAL_POOL_SLUG",
    "ROLE_RANK",
    "Admin",
    "AdminRules",
    "AgentInfo",
    "LoginRefused",
    "LoginThrottle",
    "OrgInfo",
    "OrgKind",
    "Places",
    "Role",
    "Session",
    "Sessions",
    "Viewer",
    "ensure_national_pool",
    "generate_password",
    "hash_password",
    "load_topics",
    "require_role",
    "token_hash",
    "verify_password",
]
