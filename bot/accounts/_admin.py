"""Administration of organisations and people (console users), shared by the console's
admin pages and the ``python -m bot org|agent`` commands, so both refuse the same mistakes
the same way.

Every rule is checked before anything is written: an area must be a gazetteer code, office
hours must parse (with the handoff router's parser, given in ``AdminRules``), a topic must
exist in knowledge/programmes.yml, a role and an organisation kind must be known. A mistake
raises ``Invalid`` (-> 400) with a message an administrator can act on.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .._exceptions import Conflict, Invalid, NotFound
from ..storage._db import Agent, ConsoleSession, Organisation, utcnow
from ..storage._store import Store
from ._passwords import hash_password
from ._roles import OrgKind, Role

__all__ = [
    "LANGUAGES",
    "NATIONAL_POOL_NAME",
    "NATIONAL_POOL_SLUG",
    "Admin",
    "AdminRules",
    "AgentInfo",
    "OrgInfo",
    "Places",
    "ensure_national_pool",
    "generate_password",
    "load_topics",
]

NATIONAL_POOL_SLUG = "national-pool"
NATIONAL_POOL_NAME = "SP4ALL national pool"
NATIONAL_POOL_SLA_MINUTES = 60
LANGUAGES = ("km", "en")
DEFAULT_ADMIN_USERNAME = "admin"
GENERATED_PASSWORD_BYTES = 12  # 16 URL-safe characters
MAX_SLA_MINUTES = 7 * 24 * 60
MAX_NAME_CHARS = 200
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_TOPIC_RE = re.compile(r"^[a-z0-9_]{1,64}$")
_CODE_RE = re.compile(r"^\d{2}(\d{2}){0,3}$")


def generate_password() -> str:
    """A random password for a new or reset account (shown once, never stored in clear)."""
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


def load_topics(path: Path) -> frozenset[str] | None:
    """Topic ids of knowledge/programmes.yml; None if the file is absent (no check then)."""
    if not path.exists():
        return None
    data: dict[str, Any] = yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader)
    return frozenset(str(t) for t in (data.get("topics") or {}))


async def ensure_national_pool(session: AsyncSession) -> None:
    """There is always somewhere to route to: create the national pool if missing
    (inside the caller's write transaction; the caller commits)."""
    found = await session.scalar(
        select(Organisation.id).where(Organisation.national_pool.is_(True)).limit(1)
    )
    if found is None:
        session.add(
            Organisation(
                slug=NATIONAL_POOL_SLUG,
                name=NATIONAL_POOL_NAME,
                languages=list(LANGUAGES),
                topics=[],
                areas=[],
                office_hours={},
                sla_minutes=NATIONAL_POOL_SLA_MINUTES,
                national_pool=True,
                kind=OrgKind.NATIONAL_POOL,
                active=True,
                created_at=utcnow(),
            )
        )
        await session.flush()


class Places(Protocol):
    """The gazetteer, as administration needs it (bot.handoff.PlaceNames is one)."""

    def knows(self, code: str) -> bool:
        """Whether ``code`` is a province, district or commune code."""
        ...

    def describe(self, code: str) -> str | None:
        """The place's name in words."""
        ...


@dataclass(frozen=True)
class AdminRules:
    """What administrative input is checked against: the gazetteer, the office-hours
    parser (raises ValueError or TypeError) and the known topics."""

    places: Places
    office_hours: Callable[[Mapping[str, Any]], object]
    topics: frozenset[str] | None = None  # None: any well-formed topic id


@dataclass(frozen=True)
class OrgInfo:
    """An organisation as the admin pages and the CLI show it."""

    id: int
    slug: str
    name: str
    languages: list[str]
    topics: list[str]
    areas: list[str]
    area_names: list[str]
    office_hours: dict[str, Any]
    sla_minutes: int
    national_pool: bool
    active: bool
    kind: str = OrgKind.CSO

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class AgentInfo:
    """A console user, without the password hash."""

    id: int
    username: str
    display_name: str
    role: str
    organisation_id: int
    organisation_slug: str
    organisation_name: str
    active: bool
    last_login_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict (datetimes as ISO 8601)."""
        out = dict(self.__dict__)
        out["last_login_at"] = self.last_login_at.isoformat() if self.last_login_at else None
        return out


def _slug(value: str, what: str) -> str:
    slug = value.strip().lower()
    if not _SLUG_RE.match(slug):
        raise Invalid(f"{what} {value!r}: use 2-64 characters of a-z 0-9 . _ -")
    return slug


def _name(value: str, what: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > MAX_NAME_CHARS:
        raise Invalid(f"{what} must be 1-{MAX_NAME_CHARS} characters")
    return name


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise Invalid(f"unknown role {value!r}: use one of {', '.join(Role)}") from None


def _kind(value: str) -> OrgKind:
    try:
        kind = OrgKind(value)
    except ValueError:
        kind = None
    if kind is None or kind == OrgKind.NATIONAL_POOL:
        choices = ", ".join(k for k in OrgKind if k != OrgKind.NATIONAL_POOL)
        raise Invalid(f"unknown organisation kind {value!r}: use one of {choices}")
    return kind


def _password(value: str) -> str:
    try:
        return hash_password(value)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc


def _ref(ref: int | str) -> Any:
    """A numeric id or a slug/username (CLI users type names, pages post ids)."""
    return int(ref) if isinstance(ref, int) or str(ref).isdigit() else str(ref).strip().lower()


class Admin:
    """Create, change and list organisations and agents; every rule checked first."""

    def __init__(
        self, store: Store, rules: AdminRules, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._store = store
        self._rules = rules
        self._clock = clock

    # ----- checks -----------------------------------------------------------------------

    def _languages(self, values: Iterable[str]) -> list[str]:
        out = []
        for value in values:
            lang = value.strip().lower()
            if lang not in LANGUAGES:
                raise Invalid(f"unknown language {value!r}: use km or en")
            if lang not in out:
                out.append(lang)
        return out

    def _topics(self, values: Iterable[str]) -> list[str]:
        out = []
        for value in values:
            topic = value.strip()
            known = self._rules.topics
            if not _TOPIC_RE.match(topic) or (known is not None and topic not in known):
                raise Invalid(f"unknown topic {value!r} (see knowledge/programmes.yml)")
            if topic not in out:
                out.append(topic)
        return out

    def _areas(self, values: Iterable[str]) -> list[str]:
        out = []
        for value in values:
            code = value.strip()
            if not _CODE_RE.match(code) or not self._rules.places.knows(code):
                raise Invalid(
                    f"unknown area {value!r}: use a province (2 digits), district (4) or "
                    "commune (6) code of knowledge/gazetteer"
                )
            if code not in out:
                out.append(code)
        return out

    def _hours(self, value: Mapping[str, Any] | None) -> dict[str, Any]:
        raw = dict(value or {})
        try:
            self._rules.office_hours(raw)
        except (ValueError, TypeError) as exc:
            raise Invalid(f"office hours: {exc}") from exc
        return {str(k): [v] if isinstance(v, str) else [str(s) for s in v] for k, v in raw.items()}

    @staticmethod
    def _sla(value: int) -> int:
        if not isinstance(value, int) or not 1 <= value <= MAX_SLA_MINUTES:
            raise Invalid(f"the service level must be 1-{MAX_SLA_MINUTES} minutes")
        return value

    # ----- organisations ------------------------------------------------------------------

    def _org_info(self, org: Organisation) -> OrgInfo:
        return OrgInfo(
            id=org.id,
            slug=org.slug,
            name=org.name,
            languages=list(org.languages or []),
            topics=list(org.topics or []),
            areas=list(org.areas or []),
            area_names=[self._rules.places.describe(a) or a for a in org.areas or []],
            office_hours=dict(org.office_hours or {}),
            sla_minutes=org.sla_minutes,
            national_pool=org.national_pool,
            active=org.active,
            kind=org.kind,
        )

    @staticmethod
    async def _find_org(session: AsyncSession, ref: int | str) -> Organisation:
        key = _ref(ref)
        column = Organisation.id if isinstance(key, int) else Organisation.slug
        org = await session.scalar(select(Organisation).where(column == key))
        if org is None:
            raise NotFound(f"no organisation {ref!r}")
        return org

    async def organisations(self, *, active_only: bool = False) -> list[OrgInfo]:
        """Every organisation, the national pool first."""
        query = select(Organisation).order_by(Organisation.id)
        if active_only:
            query = query.where(Organisation.active.is_(True))
        # Read first: the pool exists from start-up on, and a write would wait for the
        # single SQLite writer (every conversation page lists organisations to transfer to).
        async with self._store.reading() as session:
            found = list(await session.scalars(query))
        if any(o.national_pool for o in found):
            return [self._org_info(o) for o in found]
        async with self._store.writing() as session:
            await ensure_national_pool(session)
            await session.commit()
            return [self._org_info(o) for o in await session.scalars(query)]

    async def transfer_targets(
        self, organisation: int | None
    ) -> tuple[list[OrgInfo], list[AgentInfo]]:
        """Active organisations and active agents (of one organisation if given) for the
        transfer form, in one read transaction."""
        orgs_query = (
            select(Organisation).where(Organisation.active.is_(True)).order_by(Organisation.id)
        )
        agents_query = (
            select(Agent, Organisation)
            .join(Organisation, Organisation.id == Agent.organisation_id)
            .where(Agent.active.is_(True))
            .order_by(Organisation.id, Agent.username)
        )
        if organisation is not None:
            agents_query = agents_query.where(Agent.organisation_id == organisation)
        async with self._store.reading() as session:
            orgs = list(await session.scalars(orgs_query))
            rows = (await session.execute(agents_query)).all()
        if not any(o.national_pool for o in orgs):
            return await self.organisations(active_only=True), [
                self._agent_info(agent, org) for agent, org in rows
            ]
        return [self._org_info(o) for o in orgs], [
            self._agent_info(agent, org) for agent, org in rows
        ]

    async def organisation(self, ref: int | str) -> OrgInfo:
        """One organisation by id or slug."""
        async with self._store.reading() as session:
            return self._org_info(await self._find_org(session, ref))

    async def add_organisation(
        self,
        slug: str,
        name: str,
        *,
        languages: Iterable[str] = LANGUAGES,
        topics: Iterable[str] = (),
        areas: Iterable[str] = (),
        office_hours: Mapping[str, Any] | None = None,
        sla_minutes: int = 30,
        kind: str = OrgKind.CSO,
    ) -> OrgInfo:
        """A new organisation (not a national pool: there is one, made at start-up)."""
        org = Organisation(
            kind=_kind(kind),
            slug=_slug(slug, "organisation id"),
            name=_name(name, "the name"),
            languages=self._languages(languages),
            topics=self._topics(topics),
            areas=self._areas(areas),
            office_hours=self._hours(office_hours),
            sla_minutes=self._sla(sla_minutes),
            national_pool=False,
            active=True,
            created_at=self._clock(),
        )
        async with self._store.writing() as session:
            await ensure_national_pool(session)
            taken = await session.scalar(
                select(Organisation.id).where(Organisation.slug == org.slug)
            )
            if taken is not None:
                raise Conflict(f"an organisation {org.slug!r} exists already")
            session.add(org)
            await session.commit()
            return self._org_info(org)

    async def update_organisation(
        self,
        ref: int | str,
        *,
        name: str | None = None,
        languages: Iterable[str] | None = None,
        topics: Iterable[str] | None = None,
        areas: Iterable[str] | None = None,
        office_hours: Mapping[str, Any] | None = None,
        sla_minutes: int | None = None,
        active: bool | None = None,
        kind: str | None = None,
    ) -> OrgInfo:
        """Change the given fields only; the national pool cannot be deactivated and
        stays the national pool."""
        changes: dict[str, Any] = {}
        if kind is not None:
            changes["kind"] = _kind(kind)
        if name is not None:
            changes["name"] = _name(name, "the name")
        if languages is not None:
            changes["languages"] = self._languages(languages)
        if topics is not None:
            changes["topics"] = self._topics(topics)
        if areas is not None:
            changes["areas"] = self._areas(areas)
        if office_hours is not None:
            changes["office_hours"] = self._hours(office_hours)
        if sla_minutes is not None:
            changes["sla_minutes"] = self._sla(sla_minutes)
        if active is not None:
            changes["active"] = bool(active)
        async with self._store.writing() as session:
            org = await self._find_org(session, ref)
            if org.national_pool and changes.get("active") is False:
                raise Conflict("the national pool cannot be deactivated: it takes every handoff")
            if org.national_pool:
                changes.pop("kind", None)
            for key, value in changes.items():
                setattr(org, key, value)
            await session.commit()
            return self._org_info(org)

    # ----- agents --------------------------------------------------------------------------

    @staticmethod
    def _agent_info(agent: Agent, org: Organisation) -> AgentInfo:
        return AgentInfo(
            id=agent.id,
            username=agent.username,
            display_name=agent.display_name,
            role=agent.role,
            organisation_id=org.id,
            organisation_slug=org.slug,
            organisation_name=org.name,
            active=agent.active,
            last_login_at=agent.last_login_at,
        )

    @staticmethod
    async def _find_agent(session: AsyncSession, ref: int | str) -> Agent:
        key = _ref(ref)
        column = Agent.id if isinstance(key, int) else Agent.username
        agent = await session.scalar(select(Agent).where(column == key))
        if agent is None:
            raise NotFound(f"no agent {ref!r}")
        return agent

    @staticmethod
    async def _other_admins(session: AsyncSession, agent: Agent) -> int:
        found = await session.scalar(
            select(func.count())
            .select_from(Agent)
            .where(Agent.role == Role.ADMIN, Agent.active.is_(True), Agent.id != agent.id)
        )
        return int(found or 0)

    async def agents(
        self, *, organisation: int | str | None = None, active_only: bool = False
    ) -> list[AgentInfo]:
        """Agents (of one organisation if given), by organisation then username."""
        query = (
            select(Agent, Organisation)
            .join(Organisation, Organisation.id == Agent.organisation_id)
            .order_by(Organisation.id, Agent.username)
        )
        if active_only:
            query = query.where(Agent.active.is_(True))
        async with self._store.reading() as session:
            if organisation is not None:
                org = await self._find_org(session, organisation)
                query = query.where(Agent.organisation_id == org.id)
            rows = (await session.execute(query)).all()
        return [self._agent_info(agent, org) for agent, org in rows]

    async def agent(self, ref: int | str) -> AgentInfo:
        """One agent by id or username."""
        async with self._store.reading() as session:
            agent = await self._find_agent(session, ref)
            org = await self._find_org(session, agent.organisation_id)
            return self._agent_info(agent, org)

    async def add_agent(
        self,
        username: str,
        display_name: str,
        organisation: int | str,
        role: str,
        password: str,
    ) -> AgentInfo:
        """A new console user with a hashed password."""
        agent = Agent(
            username=_slug(username, "username"),
            display_name=_name(display_name, "the display name"),
            role=_role(role),
            password_hash=_password(password),
            languages=[],
            active=True,
            created_at=self._clock(),
        )
        async with self._store.writing() as session:
            await ensure_national_pool(session)
            org = await self._find_org(session, organisation)
            if not org.active:
                raise Conflict(f"organisation {org.slug!r} is not active")
            taken = await session.scalar(select(Agent.id).where(Agent.username == agent.username))
            if taken is not None:
                raise Conflict(f"the username {agent.username!r} is taken")
            agent.organisation_id = org.id
            session.add(agent)
            await session.commit()
            return self._agent_info(agent, org)

    async def update_agent(
        self,
        ref: int | str,
        *,
        display_name: str | None = None,
        role: str | None = None,
        organisation: int | str | None = None,
        active: bool | None = None,
    ) -> AgentInfo:
        """Change role, organisation, name or activity; the last admin stays an admin.
        A deactivated agent's sessions end at once."""
        async with self._store.writing() as session:
            agent = await self._find_agent(session, ref)
            demoted = (role is not None and _role(role) != Role.ADMIN) or active is False
            if (
                agent.role == Role.ADMIN
                and agent.active
                and demoted
                and not await self._other_admins(session, agent)
            ):
                raise Conflict("this is the last admin: make another admin first")
            if display_name is not None:
                agent.display_name = _name(display_name, "the display name")
            if role is not None:
                agent.role = _role(role)
            if organisation is not None:
                org = await self._find_org(session, organisation)
                agent.organisation_id = org.id
            if active is not None:
                agent.active = bool(active)
            if active is False or role is not None or organisation is not None:
                # rights changed: log in again (sessions carry no cached rights, but a
                # deactivated person must be out now, not at the next page)
                await session.execute(
                    delete(ConsoleSession).where(ConsoleSession.agent_id == agent.id)
                )
            org = await self._find_org(session, agent.organisation_id)
            await session.commit()
            return self._agent_info(agent, org)

    async def deactivate_agent(self, ref: int | str) -> AgentInfo:
        """Deactivate (never delete: their replies and notes keep their name)."""
        return await self.update_agent(ref, active=False)

    async def set_password(self, ref: int | str, password: str) -> AgentInfo:
        """Reset a password; the agent's open sessions end."""
        hashed = _password(password)
        async with self._store.writing() as session:
            agent = await self._find_agent(session, ref)
            agent.password_hash = hashed
            await session.execute(
                delete(ConsoleSession).where(ConsoleSession.agent_id == agent.id)
            )
            org = await self._find_org(session, agent.organisation_id)
            await session.commit()
            return self._agent_info(agent, org)

    async def password_hash(self, ref: int | str) -> str:
        """The stored hash (for login checks and tests; never shown)."""
        async with self._store.reading() as session:
            return (await self._find_agent(session, ref)).password_hash

    async def ensure_admin(self) -> tuple[AgentInfo, str] | None:
        """If no active admin exists, create one with a random password and return both
        (the only time the password is known); None if there is an admin already."""
        async with self._store.writing() as session:
            await ensure_national_pool(session)
            await session.commit()
            found = await session.scalar(
                select(Agent.id).where(Agent.role == Role.ADMIN, Agent.active.is_(True)).limit(1)
            )
            if found is not None:
                return None
            username = DEFAULT_ADMIN_USERNAME
            if await session.scalar(select(Agent.id).where(Agent.username == username)):
                username = f"{DEFAULT_ADMIN_USERNAME}-{secrets.token_hex(2)}"
            pool_id = await session.scalar(
                select(Organisation.id)
                .where(Organisation.national_pool.is_(True))
                .order_by(Organisation.id)
                .limit(1)
            )
        password = generate_password()
        assert pool_id is not None  # noqa: S101 (ensure_national_pool made one)
        info = await self.add_agent(username, "Administrator", pool_id, Role.ADMIN, password)
        return info, password
