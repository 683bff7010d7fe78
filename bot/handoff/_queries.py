"""Handoff queries: the queue, one conversation and its history, recent chats, statistics;
read-only, and filtered by what the viewer may see."""

from __future__ import annotations

import statistics
from typing import Any

from sqlalchemy import (
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from .._exceptions import NotAllowed
from ..accounts import Viewer
from ..storage._db import (
    Agent,
    Chat,
    Handoff,
    HandoffEvent,
    HandoffStatus,
    Inbound,
    Organisation,
    Outbound,
)
from ..storage._models import OutboundKind
from ._core import ServiceCore
from ._types import (
    HISTORY_LIMIT,
    OPEN_STATUSES,
    STATS_WINDOW,
    EventKind,
    HandoffView,
    HistoryItem,
    OrgStats,
    _aware,
    _inbound_text,
    _outbound_text,
)

__all__ = ["HandoffQueries"]


class HandoffQueries(ServiceCore):
    """What :class:`HandoffService` shows the console."""

    # ----- console side ---------------------------------------------------------------

    async def queue(self, viewer: Viewer, *, include_closed: bool = False) -> list[HandoffView]:
        """Open conversations the viewer may see: most urgent first, then longest waiting."""
        statuses = (*OPEN_STATUSES, HandoffStatus.CLOSED) if include_closed else OPEN_STATUSES
        # Plain rows with the names joined in: one query, no ORM objects (every agent's
        # page asks for this list on every change)
        query = (
            select(
                *Handoff.__table__.c,
                Organisation.name.label("organisation_name"),
                Agent.display_name.label("agent_name"),
            )
            .join(Organisation, Organisation.id == Handoff.organisation_id)
            .outerjoin(Agent, Agent.id == Handoff.agent_id)
            .where(Handoff.status.in_(statuses))
        )
        if not viewer.is_admin:
            query = query.where(Handoff.organisation_id == viewer.organisation_id)
        query = query.order_by(Handoff.priority.desc(), Handoff.queued_at, Handoff.id)
        async with self._store.reading() as session:
            rows = (await session.execute(query.limit(1000))).all()
        now = self._clock()
        return [self._view(r, r.organisation_name, r.agent_name, now) for r in rows]

    async def view(self, viewer: Viewer, handoff_id: int) -> HandoffView:
        """One conversation's header (raises NotFound if absent or not the viewer's)."""
        async with self._store.reading() as session:
            handoff = await self._visible(session, viewer, handoff_id)
            return (await self._views(session, [handoff]))[0]

    async def conversation(
        self, viewer: Viewer, handoff_id: int
    ) -> tuple[HandoffView, list[HistoryItem]]:
        """Header and history of one conversation, in one read transaction (the page)."""
        async with self._store.reading() as session:
            handoff = await self._visible(session, viewer, handoff_id)
            return await self._history(session, handoff, with_view=True)

    async def history(self, viewer: Viewer, handoff_id: int) -> list[HistoryItem]:
        """The whole conversation (bot and human turns, notes, events), oldest first."""
        async with self._store.reading() as session:
            handoff = await self._visible(session, viewer, handoff_id)
            return (await self._history(session, handoff, with_view=False))[1]

    async def _history(
        self, session: AsyncSession, handoff: Handoff, *, with_view: bool
    ) -> tuple[HandoffView, list[HistoryItem]]:
        """History rows (3 queries) and every name they and the header need (1 query)."""
        inbound = await session.scalars(
            select(Inbound)
            .where(Inbound.channel == handoff.channel, Inbound.chat_id == handoff.chat_id)
            .order_by(Inbound.id.desc())
            .limit(HISTORY_LIMIT)
        )
        items = [
            HistoryItem(f"in-{r.id}", _aware(r.created_at), "citizen", _inbound_text(r))
            for r in inbound
        ]
        outbound = await session.scalars(
            select(Outbound)
            .where(
                Outbound.channel == handoff.channel,
                Outbound.chat_id == handoff.chat_id,
                Outbound.kind != OutboundKind.HANDOFF,
            )
            .order_by(Outbound.id.desc())
            .limit(HISTORY_LIMIT)
        )
        out_rows = list(outbound)
        events = await session.scalars(
            select(HandoffEvent)
            .join(Handoff, Handoff.id == HandoffEvent.handoff_id)
            .where(
                Handoff.channel == handoff.channel,
                Handoff.chat_id == handoff.chat_id,
                HandoffEvent.kind != EventKind.REPLY,
            )
            .order_by(HandoffEvent.id.desc())
            .limit(HISTORY_LIMIT)
        )
        event_rows = list(events)
        agent_ids = {r.agent_id for r in out_rows if r.agent_id} | {
            e.agent_id for e in event_rows if e.agent_id
        }
        if with_view and handoff.agent_id is not None:
            agent_ids.add(handoff.agent_id)
        orgs, names = await self._names(
            session, {handoff.organisation_id} if with_view else set(), agent_ids
        )
        for row in out_rows:
            author = "agent" if row.agent_id else "assistant"
            items.append(
                HistoryItem(
                    f"out-{row.id}",
                    _aware(row.created_at),
                    author,
                    _outbound_text(row.body),
                    names.get(row.agent_id) if row.agent_id else None,
                )
            )
        for event in event_rows:
            if event.kind == EventKind.NOTE:
                text = event.text
            else:
                detail = ", ".join(f"{k}={v}" for k, v in sorted(event.detail.items()))
                text = f"{event.kind}" + (f" ({detail})" if detail else "")
            items.append(
                HistoryItem(
                    f"ev-{event.id}",
                    _aware(event.created_at),
                    "note" if event.kind == EventKind.NOTE else "event",
                    text,
                    names.get(event.agent_id) if event.agent_id else None,
                )
            )
        items.sort(key=lambda i: (i.at, i.key))
        view = self._view(
            handoff, orgs.get(handoff.organisation_id, "?"), names.get(handoff.agent_id or 0)
        )
        return view, items

    async def recent_chats(self, viewer: Viewer, limit: int = 50) -> list[dict[str, Any]]:
        """Conversations the assistant is having (for take-over); admins only: these
        citizens have not asked for anyone, so the list stays as narrow as possible."""
        if not viewer.is_admin:
            raise NotAllowed("only admins can list conversations not handed off")
        async with self._store.reading() as session:
            rows = await session.scalars(
                select(Chat)
                .where(Chat.in_handoff.is_(False), Chat.active.is_(True))
                .order_by(Chat.updated_at.desc())
                .limit(limit)
            )
            return [
                {
                    "channel": c.channel,
                    "chat_id": c.chat_id,
                    "language": c.language,
                    "updated_at": _aware(c.updated_at).isoformat(),
                }
                for c in rows
            ]

    async def stats(self, viewer: Viewer) -> list[OrgStats]:
        """Queue lengths, waiting times, load and satisfaction per organisation."""
        if not viewer.is_supervisor:
            raise NotAllowed("the supervisor view is for supervisors and admins")
        now = self._clock()
        since = now - STATS_WINDOW
        async with self._store.reading() as session:
            org_query = select(Organisation).where(Organisation.active.is_(True))
            if not viewer.is_admin:
                org_query = org_query.where(Organisation.id == viewer.organisation_id)
            orgs = list(await session.scalars(org_query.order_by(Organisation.id)))
            ids = [o.id for o in orgs]
            handoffs = list(
                await session.scalars(
                    select(Handoff).where(
                        Handoff.organisation_id.in_(ids or [0]),
                        or_(Handoff.status.in_(OPEN_STATUSES), Handoff.created_at >= since),
                    )
                )
            )
            names = {
                a.id: a.display_name
                for a in await session.scalars(
                    select(Agent).where(Agent.organisation_id.in_(ids or [0]))
                )
            }
        result = []
        for org in orgs:
            mine = [h for h in handoffs if h.organisation_id == org.id]
            queued = [h for h in mine if h.status == HandoffStatus.QUEUED]
            claimed = [h for h in mine if h.status == HandoffStatus.CLAIMED]
            waits = [(now - _aware(h.queued_at)).total_seconds() for h in queued]
            claim_times = [
                (_aware(h.claimed_at) - _aware(h.queued_at)).total_seconds()
                for h in mine
                if h.claimed_at is not None
            ]
            load: dict[str, int] = {}
            for h in claimed:
                name = names.get(h.agent_id or 0, f"agent {h.agent_id}")
                load[name] = load.get(name, 0) + 1
            ratings = [h.rating for h in mine if h.rating is not None]
            result.append(
                OrgStats(
                    organisation_id=org.id,
                    name=org.name,
                    queued=len(queued),
                    claimed=len(claimed),
                    oldest_wait_s=max(waits, default=0.0),
                    mean_wait_s=statistics.fmean(waits) if waits else 0.0,
                    mean_claim_s=statistics.fmean(claim_times) if claim_times else None,
                    load=load,
                    ratings=len(ratings),
                    rating_mean=statistics.fmean(ratings) if ratings else None,
                )
            )
        return result

    async def count_open(self) -> int:
        """Open handoffs (a gauge for /metrics)."""
        async with self._store.reading() as session:
            found = await session.scalar(
                select(func.count()).select_from(Handoff).where(Handoff.status.in_(OPEN_STATUSES))
            )
        return int(found or 0)
