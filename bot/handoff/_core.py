"""What the handoff commands and queries share: the service's collaborators, telling the
citizen, the audit trail, live events, visibility checks, and building views."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    insert,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from .._exceptions import NotFound
from ..accounts import Viewer
from ..channels._base import Channel, callback_key
from ..channels._texts import gateway_text, org_for_citizens, when_text
from ..rasa._client import RasaClient
from ..storage._db import (
    Agent,
    Handoff,
    Organisation,
    utcnow,
)
from ..storage._models import OutboundKind
from ..storage._store import NewOutbound, Store
from ._live import LiveEvent, LiveHub
from ._places import PlaceNames
from ._routing import OrgProfile
from ._types import (
    _EVENTS,
    _OUTBOUND,
    HandoffView,
    _aware,
    _profile,
)

__all__ = ["ServiceCore"]

log = logging.getLogger("bot.handoff")


class ServiceCore:
    """State and helpers of :class:`HandoffService`, shared by its commands and queries."""

    def __init__(
        self,
        *,
        store: Store,
        rasa: RasaClient,
        channels: Mapping[str, Channel],
        hub: LiveHub,
        places: PlaceNames,
        wake: Callable[[str, str], None],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._rasa = rasa
        self._channels = channels
        self._hub = hub
        self._places = places
        self._wake = wake
        self._clock = clock
        # Rasa resumes after a close, off the request path (gw_chats.resume_pending keeps
        # one that did not happen: the pipeline resumes before the chat's next message).
        self._resumes: set[asyncio.Task[None]] = set()
        # the gazetteer does not change while the gateway runs: describe each code once
        self._place_name = functools.lru_cache(maxsize=4096)(places.describe)
        self._resumed: list[tuple[str, str, datetime]] = []  # flags to clear, in one batch

    # ----- helpers --------------------------------------------------------------------

    def _render(self, channel: str, replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = self._channels.get(channel)
        return found.render(replies) if found is not None else []

    async def _tell(
        self,
        session: AsyncSession,
        handoff: Handoff,
        replies: list[dict[str, Any]],
        kind: str = OutboundKind.NOTICE,
        agent_id: int | None = None,
    ) -> None:
        """Queue messages to the citizen inside the caller's transaction (one INSERT for
        all of them: on SQLite every writer waits while a transaction is open)."""
        channel = self._channels.get(handoff.channel)
        if channel is None:
            return
        if channel.needs_callback_keys:
            await self._store.add_callbacks(
                session,
                {
                    callback_key(str(b["payload"])): str(b["payload"])
                    for r in replies
                    for b in r.get("buttons") or []
                },
            )
        now = utcnow()
        rows = []
        for body in channel.render(replies):
            values = Store.outbound_values(
                handoff.channel, handoff.chat_id, None, NewOutbound(kind, body), agent_id
            )
            rows.append(values | {"created_at": now})
        if rows:
            await session.execute(insert(_OUTBOUND), rows)

    async def _event(
        self,
        session: AsyncSession,
        handoff: Handoff,
        kind: str,
        viewer: Viewer | None = None,
        text: str = "",
        **detail: Any,
    ) -> None:
        """The audit row, inserted at once (no ORM object: one statement, no flush work)."""
        await session.execute(
            insert(_EVENTS),
            [
                {
                    "handoff_id": handoff.id,
                    "kind": kind,
                    "agent_id": viewer.agent_id if viewer else None,
                    "text": text,
                    "detail": detail,
                    "created_at": self._clock(),
                }
            ],
        )

    def _publish(self, kind: str, handoff: Handoff, **data: Any) -> None:
        self._hub.publish(LiveEvent(kind, handoff.id, handoff.organisation_id, data))

    async def _orgs(self, session: AsyncSession) -> list[OrgProfile]:
        rows = await session.scalars(select(Organisation).where(Organisation.active.is_(True)))
        profiles = []
        for org in rows:
            try:
                profiles.append(_profile(org))
            except ValueError:
                log.error("handoff.bad_office_hours", extra={"organisation": org.slug})
        return profiles

    async def _org(self, session: AsyncSession, organisation_id: int) -> Organisation:
        org = await session.get(Organisation, organisation_id)
        if org is None:
            raise NotFound(f"no organisation {organisation_id}")
        return org

    async def _visible(
        self, session: AsyncSession, viewer: Viewer, handoff_id: int, *, lock: bool = True
    ) -> Handoff:
        handoff = await session.get(Handoff, handoff_id, with_for_update=lock and self._lock_rows)
        if handoff is None or not viewer.may_see(handoff.organisation_id):
            # the same answer for "absent" and "not yours": ids must not leak existence
            raise NotFound(f"no conversation {handoff_id}")
        return handoff

    async def _visible_with_org(
        self, session: AsyncSession, viewer: Viewer, handoff_id: int
    ) -> tuple[Handoff, str]:
        """The handoff (as ``_visible``, not locked) and its organisation's name as the
        citizen is told it, in one query."""
        query = (
            select(Handoff, Organisation.name, Organisation.national_pool)
            .join(Organisation, Organisation.id == Handoff.organisation_id)
            .where(Handoff.id == handoff_id)
        )
        row = (await session.execute(query)).first()
        if row is None or not viewer.may_see(row[0].organisation_id):
            raise NotFound(f"no conversation {handoff_id}")
        return row[0], org_for_citizens(row[1], row[2], row[0].language)

    @property
    def _lock_rows(self) -> bool:
        return self._store.dialect == "postgresql"

    def _queued_notice(self, org: OrgProfile, language: str) -> dict[str, Any]:
        now = self._clock()
        name = org_for_citizens(org.name, org.national_pool, language)
        if org.hours.is_open(now):
            return {"text": gateway_text("handoff_queued", language, org=name)}
        opening = org.hours.next_opening(now)
        when = when_text(opening, now, language) if opening else "?"
        return {"text": gateway_text("handoff_out_of_hours", language, org=name, when=when)}

    # ----- views ----------------------------------------------------------------------

    async def _names(
        self, session: AsyncSession, org_ids: set[int], agent_ids: set[int]
    ) -> tuple[dict[int, str], dict[int, str]]:
        """Organisation and agent names by id, in one query (names only, no ORM rows)."""
        orgs: dict[int, str] = {}
        agents: dict[int, str] = {}
        if not org_ids and not agent_ids:
            return orgs, agents
        query: CompoundSelect[Any] = union_all(
            select(literal_column("'o'"), Organisation.id, Organisation.name).where(
                Organisation.id.in_(org_ids or {0})
            ),
            select(literal_column("'a'"), Agent.id, Agent.display_name).where(
                Agent.id.in_(agent_ids or {0})
            ),
        )
        for which, ident, name in (await session.execute(query)).all():
            (orgs if which == "o" else agents)[ident] = name
        return orgs, agents

    async def _views(self, session: AsyncSession, rows: Sequence[Handoff]) -> list[HandoffView]:
        orgs, agents = await self._names(
            session,
            {h.organisation_id for h in rows},
            {h.agent_id for h in rows if h.agent_id is not None},
        )
        now = self._clock()
        return [
            self._view(h, orgs.get(h.organisation_id, "?"), agents.get(h.agent_id or 0), now)
            for h in rows
        ]

    def _view(
        self,
        h: Handoff | Row[Any],
        organisation_name: str,
        agent_name: str | None,
        now: datetime | None = None,
    ) -> HandoffView:
        end = h.claimed_at or h.closed_at
        queued_at = _aware(h.queued_at)
        waiting = ((_aware(end) if end else now or self._clock()) - queued_at).total_seconds()
        return HandoffView(
            id=h.id,
            channel=h.channel,
            chat_id=h.chat_id,
            status=h.status,
            reason=h.reason,
            priority=h.priority,
            language=h.language,
            topic=h.topic,
            place_code=h.place_code,
            place_name=self._place_name(h.place_code),
            summary=h.summary,
            organisation_id=h.organisation_id,
            organisation_name=organisation_name,
            agent_id=h.agent_id,
            agent_name=agent_name if h.agent_id else None,
            escalated=h.escalated,
            created_at=_aware(h.created_at),
            queued_at=queued_at,
            claimed_at=_aware(h.claimed_at) if h.claimed_at else None,
            closed_at=_aware(h.closed_at) if h.closed_at else None,
            waiting_s=max(0.0, waiting),
            rating=h.rating,
        )
