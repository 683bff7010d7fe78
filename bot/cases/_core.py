"""What the case commands and queries share: collaborators, visibility, the audit log,
telling the citizen (as outbound rows the delivery engine sends), and views."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from .._exceptions import NotFound
from ..accounts import Role, Viewer
from ..channels._base import Channel, callback_key
from ..handoff import PlaceNames
from ..storage._db import Agent, Chat, Organisation, Outbound, utcnow
from ..storage._models import OutboundKind
from ..storage._store import NewOutbound, Store
from ._codes import format_code
from ._config import CasesConfig
from ._tables import Case, CaseEvent

__all__ = ["CaseCore", "CaseView", "EventView", "aware"]

_OUTBOUND = cast(Table, Outbound.__table__)
_EVENTS = cast(Table, CaseEvent.__table__)


def aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC): make them comparable."""
    return at if at.tzinfo else at.replace(tzinfo=utcnow().tzinfo)


@dataclass(frozen=True)
class CaseView:
    """A case as the console shows it."""

    id: int
    code: str  # ABC-D2F
    kind: str
    topic: str
    programme: str | None
    status: str
    urgent: bool
    anonymous: bool
    channel: str
    language: str
    place_code: str | None
    place_name: str | None
    organisation_id: int | None
    organisation_name: str | None
    referred_org_id: int | None
    referred_org_name: str | None
    assignee_id: int | None
    assignee_name: str | None
    escalation_level: int
    description: str
    audio_ref: str | None
    has_chat: bool
    created_at: datetime
    due_at: datetime | None
    overdue: bool


@dataclass(frozen=True)
class EventView:
    """One line of a case's history."""

    kind: str
    agent_name: str | None
    from_status: str | None
    to_status: str | None
    reason: str
    detail: dict[str, Any]
    created_at: datetime


class CaseCore:
    """State and helpers of :class:`CaseService`."""

    def __init__(
        self,
        *,
        store: Store,
        channels: Mapping[str, Channel],
        config: CasesConfig,
        places: PlaceNames,
        wake: Callable[[str, str], None],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._channels = channels
        self.config = config
        self._places = places
        self._wake = wake
        self._clock = clock

    @property
    def places(self) -> PlaceNames:
        return self._places

    # ----- visibility ------------------------------------------------------------------

    @staticmethod
    def may_see(viewer: Viewer, case: Case) -> bool:
        """Admins and the secretariat see every case; an organisation sees the cases it
        holds and those referred to it."""
        if viewer.is_admin or viewer.role == Role.SECRETARIAT_REVIEWER:
            return True
        return viewer.organisation_id in (case.organisation_id, case.referred_org_id)

    async def _visible(self, session: AsyncSession, viewer: Viewer, case_id: int) -> Case:
        lock = self._store.dialect == "postgresql"
        case = await session.get(Case, case_id, with_for_update=lock)
        if case is None or not self.may_see(viewer, case):
            raise NotFound(f"no case {case_id}")  # the same for "absent" and "not yours"
        return case

    # ----- audit log and the citizen ----------------------------------------------------

    async def _event(
        self,
        session: AsyncSession,
        case: Case,
        kind: str,
        viewer: Viewer | None = None,
        *,
        from_status: str | None = None,
        to_status: str | None = None,
        reason: str = "",
        **detail: Any,
    ) -> None:
        await session.execute(
            insert(_EVENTS),
            [
                {
                    "case_id": case.id,
                    "kind": kind,
                    "agent_id": viewer.agent_id if viewer else None,
                    "from_status": from_status,
                    "to_status": to_status,
                    "reason": reason,
                    "detail": detail,
                    "created_at": self._clock(),
                }
            ],
        )

    async def _chat_of(self, session: AsyncSession, case: Case) -> Chat | None:
        return await session.get(Chat, case.chat_id) if case.chat_id is not None else None

    async def _tell(
        self, session: AsyncSession, case: Case, replies: list[dict[str, Any]]
    ) -> tuple[str, str] | None:
        """Queue messages to the citizen in the caller's transaction; the chat to wake
        once committed (None for an anonymous case: nobody to tell)."""
        chat = await self._chat_of(session, case)
        if chat is None:
            return None
        channel = self._channels.get(chat.channel)
        if channel is None:
            return None
        if channel.needs_callback_keys:
            await self._store.add_callbacks(
                session,
                {
                    callback_key(str(b["payload"])): str(b["payload"])
                    for r in replies
                    for b in r.get("buttons") or []
                },
            )
        rows = [
            Store.outbound_values(
                chat.channel, chat.chat_id, None, NewOutbound(OutboundKind.NOTICE, body)
            )
            for body in channel.render(replies)
        ]
        if rows:
            await session.execute(insert(_OUTBOUND), rows)
        return chat.channel, chat.chat_id

    def _status_notice(self, case: Case) -> dict[str, Any]:
        language = case.language
        status = self.config.status_name(case.status, language)
        text = self.config.text(
            "status_changed", language, code=format_code(case.code), status=status
        )
        return {"text": text, "language": language}

    def followup_buttons(self, case: Case) -> list[dict[str, str]]:
        language = case.language
        return [
            {
                "title": self.config.text("resolved_yes", language),
                "payload": f"/case_yes {case.code}",
            },
            {
                "title": self.config.text("resolved_no", language),
                "payload": f"/case_no {case.code}",
            },
        ]

    # ----- views -----------------------------------------------------------------------

    async def _names(
        self, session: AsyncSession, org_ids: set[int], agent_ids: set[int]
    ) -> tuple[dict[int, str], dict[int, str]]:
        orgs = dict(
            (
                await session.execute(
                    select(Organisation.id, Organisation.name).where(
                        Organisation.id.in_(org_ids or {0})
                    )
                )
            )
            .tuples()
            .all()
        )
        agents = dict(
            (
                await session.execute(
                    select(Agent.id, Agent.display_name).where(Agent.id.in_(agent_ids or {0}))
                )
            )
            .tuples()
            .all()
        )
        return orgs, agents

    async def _views(self, session: AsyncSession, cases: list[Case]) -> list[CaseView]:
        org_ids = {i for c in cases for i in (c.organisation_id, c.referred_org_id) if i}
        agent_ids = {c.assignee_id for c in cases if c.assignee_id}
        orgs, agents = await self._names(session, org_ids, agent_ids)
        now = self._clock()
        return [self._view(c, orgs, agents, now) for c in cases]

    def _view(
        self, c: Case, orgs: dict[int, str], agents: dict[int, str], now: datetime
    ) -> CaseView:
        due = aware(c.due_at) if c.due_at else None
        return CaseView(
            id=c.id,
            code=format_code(c.code),
            kind=c.kind,
            topic=c.topic,
            programme=c.programme,
            status=c.status,
            urgent=c.urgent,
            anonymous=c.anonymous,
            channel=c.channel,
            language=c.language,
            place_code=c.commune_code or c.district_code or c.province_code,
            place_name=self._places.describe(c.commune_code or c.district_code or c.province_code),
            organisation_id=c.organisation_id,
            organisation_name=orgs.get(c.organisation_id) if c.organisation_id else None,
            referred_org_id=c.referred_org_id,
            referred_org_name=orgs.get(c.referred_org_id) if c.referred_org_id else None,
            assignee_id=c.assignee_id,
            assignee_name=agents.get(c.assignee_id) if c.assignee_id else None,
            escalation_level=c.escalation_level,
            description=c.description,
            audio_ref=c.audio_ref,
            has_chat=c.chat_id is not None,
            created_at=aware(c.created_at),
            due_at=due,
            overdue=due is not None and due < now,
        )
