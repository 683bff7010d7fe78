"""Handoff commands: every state change (open, route, claim, reply, note, transfer, close,
rate, escalate, take over, resume Rasa), each one database transaction that also queues
what the citizen must be told."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from khmer_nlu.graphemes import shorten

from .._exceptions import Conflict, NotAllowed, NotFound, RasaUnavailable
from ..accounts import Viewer, ensure_national_pool
from ..channels._texts import gateway_text, org_for_citizens
from ..storage._db import (
    Agent,
    Chat,
    Handoff,
    HandoffStatus,
    Inbound,
    Organisation,
    OutboundStatus,
)
from ..storage._models import OutboundKind
from ._core import ServiceCore
from ._live import LiveEvent
from ._routing import national_pool, priority_for, route
from ._types import (
    _CHATS,
    _HANDOFFS,
    _OUTBOUND,
    CHANGE_ATTEMPTS,
    MAX_REPLY_CHARS,
    MAX_SUMMARY_CHARS,
    OPEN_STATUSES,
    RATING_SCORES,
    RESUME_BATCH_S,
    EventKind,
    HandoffRequest,
    HandoffView,
    _aware,
    _inbound_text,
    _rating_payload,
)

__all__ = ["HandoffCommands"]

log = logging.getLogger("bot.handoff")


class HandoffCommands(ServiceCore):
    """The state changes of :class:`HandoffService`."""

    # ----- set-up -------------------------------------------------------------------

    async def ensure_national_pool(self) -> None:
        """There is always somewhere to route to: create the national pool if missing."""
        async with self._store.writing() as session:
            await ensure_national_pool(session)
            await session.commit()

    # ----- pipeline side ---------------------------------------------------------------

    async def open(
        self, request: HandoffRequest, *, pause_rasa: bool = False, request_id: int | None = None
    ) -> Handoff:
        """Route a new handoff (or return the open one), tell the citizen who will answer.

        ``request_id`` is the outbound row that recorded the request with the answer that
        asked for it; it is marked routed in the same transaction, so a request is opened
        once even when a restart finds it again.
        """
        sender = f"{request.channel}:{request.chat_id}"
        if pause_rasa:  # the gateway decided (voice note): Rasa did not pause itself
            try:
                await self._rasa.pause(sender)
            except RasaUnavailable as exc:
                # Harmless: while handed off the gateway sends nothing to Rasa anyway.
                log.warning("handoff.pause_failed", extra={"error": str(exc)})
        async with self._store.writing() as session:
            existing = await session.scalar(
                select(Handoff).where(
                    Handoff.channel == request.channel,
                    Handoff.chat_id == request.chat_id,
                    Handoff.status.in_(OPEN_STATUSES),
                )
            )
            if existing is not None:
                await self._mark_routed(session, request_id)
                await session.commit()
                return existing
            chat = await session.scalar(
                select(Chat).where(
                    Chat.channel == request.channel, Chat.chat_id == request.chat_id
                )
            )
            place = request.place_code or (chat.place_code if chat else None)
            orgs = await self._orgs(session)
            org = route(orgs, place_code=place, language=request.language, topic=request.topic)
            if org is None:
                raise NotFound("no organisation can take handoffs: create the national pool")
            now = self._clock()
            handoff = Handoff(
                channel=request.channel,
                chat_id=request.chat_id,
                status=HandoffStatus.QUEUED,
                reason=request.reason,
                priority=priority_for(request.reason, request.urgency),
                language=request.language,
                topic=request.topic,
                place_code=place,
                summary=shorten(request.summary, MAX_SUMMARY_CHARS),
                organisation_id=org.id,
                escalated=False,
                created_at=now,
                queued_at=now,
            )
            session.add(handoff)
            await session.flush()
            await self._event(
                session,
                handoff,
                EventKind.OPENED,
                reason=request.reason,
                urgency=request.urgency,
                organisation=org.slug,
                open=org.hours.is_open(now),
            )
            await self._tell(session, handoff, [self._queued_notice(org, request.language)])
            await session.execute(
                update(Chat)
                .where(Chat.channel == request.channel, Chat.chat_id == request.chat_id)
                .values(in_handoff=True, updated_at=now)
            )
            await self._mark_routed(session, request_id)
            await session.commit()
        log.info("handoff.opened", extra={"channel": request.channel, "reason": request.reason})
        self._publish("queue", handoff)
        self._wake(request.channel, request.chat_id)
        return handoff

    @staticmethod
    async def _mark_routed(session: AsyncSession, request_id: int | None) -> None:
        if request_id is not None:
            await session.execute(
                update(_OUTBOUND)
                .where(_OUTBOUND.c.id == request_id)
                .values(status=OutboundStatus.ROUTED)
            )

    async def citizen_wrote(self, inbound: Inbound) -> None:
        """A message while handed off: keep it for the person (the pipeline marked it)."""
        async with self._store.reading() as session:
            handoff = await session.scalar(
                select(Handoff).where(
                    Handoff.channel == inbound.channel,
                    Handoff.chat_id == inbound.chat_id,
                    Handoff.status.in_(OPEN_STATUSES),
                )
            )
        if handoff is not None:
            self._publish("message", handoff, text=_inbound_text(inbound))

    async def rate(self, channel: str, chat_id: str, handoff_id: int, score: int) -> bool:
        """The citizen's 1-5 rating of a closed handoff of theirs (first rating counts)."""
        async with self._store.writing() as session:
            handoff = await session.get(Handoff, handoff_id)
            if (
                handoff is None
                or (handoff.channel, handoff.chat_id) != (channel, chat_id)
                or handoff.status != HandoffStatus.CLOSED
                or handoff.rating is not None
                or score not in RATING_SCORES
            ):
                return False
            handoff.rating = score
            handoff.rated_at = self._clock()
            await self._event(session, handoff, EventKind.RATED, score=score)
            await session.commit()
        self._publish("handoff", handoff)
        return True

    async def escalate_overdue(self) -> int:
        """Unclaimed past the organisation's service level: move to the national pool."""
        now = self._clock()
        moved: list[Handoff] = []
        async with self._store.writing() as session:
            orgs = {o.id: o for o in await self._orgs(session)}
            pools = [o for o in orgs.values() if o.national_pool]
            queued = await session.scalars(
                select(Handoff).where(
                    Handoff.status == HandoffStatus.QUEUED, Handoff.escalated.is_(False)
                )
            )
            for handoff in queued:
                org = orgs.get(handoff.organisation_id)
                if org is None or org.national_pool:
                    continue
                if now - _aware(handoff.queued_at) < timedelta(minutes=org.sla_minutes):
                    continue
                pool = national_pool(pools, handoff.language)
                if pool is None:
                    continue
                handoff.organisation_id = pool.id
                handoff.escalated = True
                handoff.queued_at = now
                await self._event(
                    session, handoff, EventKind.ESCALATED, source=org.slug, target=pool.slug
                )
                await self._tell(
                    session,
                    handoff,
                    [{"text": gateway_text("handoff_escalated", handoff.language)}],
                )
                moved.append(handoff)
            await session.commit()
        for handoff in moved:
            log.info("handoff.escalated", extra={"channel": handoff.channel})
            self._publish("queue", handoff)
            self._wake(handoff.channel, handoff.chat_id)
        return len(moved)

    # ----- console side ---------------------------------------------------------------

    async def claim(self, viewer: Viewer, handoff_id: int) -> HandoffView:
        """Take a queued conversation; the citizen is told who is answering."""
        for _ in range(CHANGE_ATTEMPTS):
            # Checks outside the write transaction (on SQLite every writer waits for the
            # one in it); the UPDATE below applies only to the state checked here.
            async with self._store.reading() as session:
                handoff, org_name = await self._visible_with_org(session, viewer, handoff_id)
                if handoff.status == HandoffStatus.CLOSED:
                    raise Conflict("this conversation is closed")
                if handoff.status == HandoffStatus.CLAIMED:
                    if handoff.agent_id == viewer.agent_id:
                        return (await self._views(session, [handoff]))[0]
                    raise Conflict("another person has already claimed this conversation")
            now = self._clock()
            async with self._store.writing() as session:
                if not await self._change(
                    session,
                    handoff,
                    status=HandoffStatus.CLAIMED,
                    agent_id=viewer.agent_id,
                    claimed_at=now,
                ):
                    continue  # changed since it was read: check again
                await self._event(session, handoff, EventKind.CLAIMED, viewer)
                await self._tell(
                    session,
                    handoff,
                    [
                        {
                            "text": gateway_text(
                                "handoff_claimed",
                                handoff.language,
                                agent=viewer.display_name,
                                org=org_name,
                            )
                        }
                    ],
                )
                await session.commit()
            # what the view needs is known: no query while other writers wait
            view = self._view(handoff, org_name, viewer.display_name)
            self._publish("queue", handoff)
            self._wake(handoff.channel, handoff.chat_id)
            return view
        raise Conflict("this conversation keeps changing: reload and try again")

    async def _change(self, session: AsyncSession, handoff: Handoff, **values: Any) -> bool:
        """UPDATE the handoff if it is still as read (status, holder, organisation); on
        success the detached ``handoff`` shows the new values too."""
        c = _HANDOFFS.c
        result = await session.execute(
            update(_HANDOFFS)
            .where(
                c.id == handoff.id,
                c.status == handoff.status,
                c.organisation_id == handoff.organisation_id,
                c.agent_id.is_(None)
                if handoff.agent_id is None
                else c.agent_id == handoff.agent_id,
            )
            .values(**values)
        )
        if cast("CursorResult[Any]", result).rowcount != 1:
            await session.rollback()
            return False
        for key, value in values.items():
            setattr(handoff, key, value)
        return True

    async def reply(self, viewer: Viewer, handoff_id: int, text: str) -> None:
        """Send the person's words on the citizen's channel (claim first)."""
        text = text.strip()
        if not text:
            raise Conflict("an empty reply cannot be sent")
        if len(text) > MAX_REPLY_CHARS:
            raise Conflict(f"a reply is limited to {MAX_REPLY_CHARS} characters")
        async with self._store.writing() as session:
            handoff = await self._visible(session, viewer, handoff_id)
            if handoff.status != HandoffStatus.CLAIMED or handoff.agent_id != viewer.agent_id:
                raise Conflict("claim this conversation before replying")
            await self._event(session, handoff, EventKind.REPLY, viewer)
            org = await session.get(Organisation, viewer.organisation_id)
            # who wrote it: every channel shows "name · organisation" with a person's words
            where = org_for_citizens(org.name, org.national_pool, handoff.language) if org else ""
            author = {"name": viewer.display_name, "organisation": where}
            await self._tell(
                session,
                handoff,
                [{"text": text, "agent": author}],
                OutboundKind.AGENT,
                viewer.agent_id,
            )
            await session.commit()
        self._publish("message", handoff)
        self._wake(handoff.channel, handoff.chat_id)

    async def note(self, viewer: Viewer, handoff_id: int, text: str) -> None:
        """A private note for colleagues; never sent to the citizen."""
        text = text.strip()
        if not text:
            raise Conflict("an empty note cannot be saved")
        async with self._store.writing() as session:
            handoff = await self._visible(session, viewer, handoff_id)
            await self._event(
                session, handoff, EventKind.NOTE, viewer, shorten(text, MAX_REPLY_CHARS)
            )
            await session.commit()
        self._publish("message", handoff)

    async def transfer(
        self,
        viewer: Viewer,
        handoff_id: int,
        *,
        organisation_id: int | None = None,
        agent_id: int | None = None,
    ) -> HandoffView:
        """Move a conversation to another organisation's queue or to a named agent."""
        if (organisation_id is None) == (agent_id is None):
            raise Conflict("transfer to either an organisation or an agent")
        async with self._store.writing() as session:
            handoff = await self._visible(session, viewer, handoff_id)
            if handoff.status == HandoffStatus.CLOSED:
                raise Conflict("this conversation is closed")
            is_holder = handoff.agent_id == viewer.agent_id
            if not (viewer.is_supervisor or is_holder or handoff.status == HandoffStatus.QUEUED):
                raise NotAllowed("only the person answering or a supervisor can transfer")
            source = handoff.organisation_id
            if agent_id is not None:
                target = await session.get(Agent, agent_id)
                if target is None or not target.active:
                    raise NotFound(f"no active agent {agent_id}")
                handoff.organisation_id = target.organisation_id
                handoff.agent_id = target.id
                handoff.status = HandoffStatus.CLAIMED
                handoff.claimed_at = self._clock()
            else:
                assert organisation_id is not None  # noqa: S101 (checked above)
                org = await self._org(session, organisation_id)
                if not org.active:
                    raise NotFound(f"organisation {organisation_id} is not active")
                handoff.organisation_id = org.id
                handoff.agent_id = None
                handoff.status = HandoffStatus.QUEUED
                handoff.queued_at = self._clock()
                handoff.claimed_at = None
                handoff.escalated = False
            await self._event(
                session,
                handoff,
                EventKind.TRANSFERRED,
                viewer,
                source=source,
                organisation=handoff.organisation_id,
                agent=handoff.agent_id,
            )
            await session.commit()
            view = (await self._views(session, [handoff]))[0]
        self._hub.publish(LiveEvent("queue", handoff.id, source))
        self._publish("queue", handoff)
        return view

    async def close(self, viewer: Viewer, handoff_id: int) -> None:
        """Hand the citizen back to the assistant (Rasa ``resume``), tell them, ask a rating."""
        for _ in range(CHANGE_ATTEMPTS):
            if await self._close(viewer, handoff_id):
                return
        raise Conflict("this conversation keeps changing: reload and try again")

    async def _close(self, viewer: Viewer, handoff_id: int) -> bool:
        async with self._store.reading() as session:
            handoff = await self._visible(session, viewer, handoff_id, lock=False)
        if handoff.status == HandoffStatus.CLOSED:
            raise Conflict("this conversation is already closed")
        if (
            handoff.status == HandoffStatus.CLAIMED
            and handoff.agent_id != viewer.agent_id
            and not viewer.is_supervisor
        ):
            raise NotAllowed("only the person answering or a supervisor can close")
        closed_at = self._clock()
        language = handoff.language
        async with self._store.writing() as session:
            if not await self._change(
                session, handoff, status=HandoffStatus.CLOSED, closed_at=closed_at
            ):
                return False  # changed since it was read: check again
            await self._event(session, handoff, EventKind.CLOSED, viewer)
            await self._tell(
                session,
                handoff,
                [
                    {"text": gateway_text("handoff_closed", language)},
                    {
                        "text": gateway_text("rating_question", language),
                        "buttons": [
                            {
                                "title": ("★" * score),
                                "payload": _rating_payload(handoff.id, score),
                            }
                            for score in RATING_SCORES
                        ],
                    },
                ],
            )
            # resume_pending first: if the resume below fails, the next message retries it
            await session.execute(
                update(_CHATS)
                .where(_CHATS.c.channel == handoff.channel, _CHATS.c.chat_id == handoff.chat_id)
                .values(in_handoff=False, resume_pending=True, updated_at=closed_at)
            )
            await session.commit()
        self._publish("queue", handoff)
        self._wake(handoff.channel, handoff.chat_id)
        # The answer does not depend on Rasa: resume it after the response. If this process
        # stops first or Rasa is down, resume_pending (committed above) has the pipeline
        # resume before the citizen's next message.
        task = asyncio.create_task(
            self._resume_in_background(handoff.channel, handoff.chat_id, closed_at),
            name="handoff resume",
        )
        self._resumes.add(task)
        task.add_done_callback(self._resumes.discard)
        return True

    async def _resume_in_background(self, channel: str, chat_id: str, flagged: datetime) -> None:
        try:
            await self._rasa.resume(f"{channel}:{chat_id}")
        except RasaUnavailable as exc:  # the flag stays set: the next message retries
            log.warning("handoff.resume_failed", extra={"channel": channel, "error": str(exc)})
            return
        # Clear the flags of the resumes that succeeded meanwhile in one transaction: a
        # write per close would queue behind (and delay) the agents' own writes.
        self._resumed.append((channel, chat_id, flagged))
        if len(self._resumed) > 1:
            return  # the first of this batch clears it
        await asyncio.sleep(RESUME_BATCH_S)
        batch, self._resumed = self._resumed, []
        try:
            async with self._store.writing() as session:
                # only where nothing touched the chat since its close set the flag (a new
                # handoff closed meanwhile needs its own resume: its flag stays)
                c = _CHATS.c
                await session.execute(
                    update(_CHATS)
                    .where(tuple_(c.channel, c.chat_id, c.updated_at).in_(batch))
                    .values(resume_pending=False)
                )
                await session.commit()
        except Exception:  # the flags stay set: the next messages resume again, harmlessly
            log.exception("handoff.resume_flags_failed", extra={"chats": len(batch)})

    async def wait_resumed(self) -> None:
        """Wait for the Rasa resumes still running (shutdown, tests)."""
        while self._resumes:
            await asyncio.gather(*self._resumes, return_exceptions=True)

    async def resume_rasa(self, channel: str, chat_id: str) -> bool:
        """Tell Rasa to resume this sender's tracker; on success clear the pending flag."""
        try:
            await self._rasa.resume(f"{channel}:{chat_id}")
        except RasaUnavailable as exc:
            log.warning("handoff.resume_failed", extra={"channel": channel, "error": str(exc)})
            return False
        async with self._store.writing() as session:
            await session.execute(
                update(Chat)
                .where(Chat.channel == channel, Chat.chat_id == chat_id)
                .values(resume_pending=False)
            )
            await session.commit()
        return True

    async def take_over(self, viewer: Viewer, channel: str, chat_id: str) -> HandoffView:
        """A supervisor steps into a conversation the assistant is having."""
        if not viewer.is_supervisor:
            raise NotAllowed("only supervisors and admins can take over a conversation")
        async with self._store.reading() as session:
            chat = await session.scalar(
                select(Chat).where(Chat.channel == channel, Chat.chat_id == chat_id)
            )
        if chat is None:
            raise NotFound("no such conversation")
        try:
            await self._rasa.pause(f"{channel}:{chat_id}")
        except RasaUnavailable as exc:
            log.warning("handoff.pause_failed", extra={"error": str(exc)})
        async with self._store.writing() as session:
            existing = await session.scalar(
                select(Handoff).where(
                    Handoff.channel == channel,
                    Handoff.chat_id == chat_id,
                    Handoff.status.in_(OPEN_STATUSES),
                )
            )
            if existing is not None:
                raise Conflict("this conversation is already with a person")
            org = await self._org(session, viewer.organisation_id)
            now = self._clock()
            handoff = Handoff(
                channel=channel,
                chat_id=chat_id,
                status=HandoffStatus.CLAIMED,
                reason="agent_takeover",
                priority=priority_for("agent_takeover"),
                language=chat.language,
                place_code=chat.place_code,
                summary="Taken over by a person from the console.",
                organisation_id=org.id,
                agent_id=viewer.agent_id,
                escalated=False,
                created_at=now,
                queued_at=now,
                claimed_at=now,
            )
            session.add(handoff)
            await session.flush()
            await self._event(session, handoff, EventKind.OPENED, viewer, reason="agent_takeover")
            await self._tell(
                session,
                handoff,
                [
                    {
                        "text": gateway_text(
                            "handoff_joined",
                            chat.language,
                            org=org_for_citizens(org.name, org.national_pool, chat.language),
                        )
                    }
                ],
            )
            await session.execute(
                update(Chat)
                .where(Chat.channel == channel, Chat.chat_id == chat_id)
                .values(in_handoff=True, updated_at=now)
            )
            await session.commit()
            view = (await self._views(session, [handoff]))[0]
        self._publish("queue", handoff)
        self._wake(channel, chat_id)
        return view
