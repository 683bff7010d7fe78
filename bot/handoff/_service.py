"""Human handoff: open and route, claim, reply, note, transfer, close, rate, escalate.

Every state change is one database transaction that also queues what the citizen must be
told (as outbound rows the pipeline delivers), so a crash never leaves a citizen waiting
without a word, and nothing said by a person is lost. Permissions are checked here, not
only in the web layer: an agent sees the conversations of their own organisation only.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    CompoundSelect,
    Table,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.ext.asyncio import AsyncSession

from .._exceptions import Conflict, NotAllowed, NotFound, RasaUnavailable
from ..accounts import Viewer, ensure_national_pool
from ..channels._base import Channel, callback_key
from ..channels._texts import gateway_text, when_text
from ..rasa._client import RasaClient
from ..storage._db import (
    Agent,
    Chat,
    Handoff,
    HandoffEvent,
    HandoffStatus,
    Inbound,
    Organisation,
    Outbound,
    OutboundStatus,
    utcnow,
)
from ..storage._models import OutboundKind
from ..storage._store import NewOutbound, Store
from ._live import LiveEvent, LiveHub
from ._places import PlaceNames
from ._routing import OrgProfile, national_pool, parse_office_hours, priority_for, route

__all__ = [
    "RATING_PREFIX",
    "EventKind",
    "HandoffRequest",
    "HandoffService",
    "HandoffView",
    "HistoryItem",
    "OrgStats",
    "Viewer",
    "parse_rating",
]

log = logging.getLogger("bot.handoff")

RATING_PREFIX = "/sp4all_rating "  # a gateway payload: never sent to Rasa
RATING_SCORES = range(1, 6)
HISTORY_LIMIT = 300
STATS_WINDOW = timedelta(days=30)
MAX_REPLY_CHARS = 4000
CHANGE_ATTEMPTS = 3  # a claim or close re-checks a conversation that changed meanwhile
RESUME_BATCH_S = 0.2  # resumes after closes: their flags are cleared together
OPEN_STATUSES = (HandoffStatus.QUEUED, HandoffStatus.CLAIMED)
# Core tables for the console's hot writes: ORM-enabled bulk INSERT/UPDATE costs several
# times the CPU, spent while every other SQLite writer waits
_HANDOFFS = cast("Table", Handoff.__table__)
_CHATS = cast("Table", Chat.__table__)
_EVENTS = cast("Table", HandoffEvent.__table__)
_OUTBOUND = cast("Table", Outbound.__table__)


class EventKind:
    """HandoffEvent.kind values: the audit trail of one handoff."""

    OPENED = "opened"
    CLAIMED = "claimed"
    REPLY = "reply"
    NOTE = "note"
    TRANSFERRED = "transferred"
    ESCALATED = "escalated"
    CLOSED = "closed"
    RATED = "rated"
    CITIZEN = "citizen"  # the citizen wrote while handed off


@dataclass(frozen=True)
class HandoffRequest:
    """Why and for whom a person is needed (from Rasa's payload or the gateway itself)."""

    channel: str
    chat_id: str
    reason: str
    language: str = "km"
    topic: str | None = None
    place_code: str | None = None
    summary: str = ""
    urgency: str | None = None


@dataclass(frozen=True)
class HandoffView:
    """One handoff as the console lists it."""

    id: int
    channel: str
    chat_id: str
    status: str
    reason: str
    priority: int
    language: str
    topic: str | None
    place_code: str | None
    place_name: str | None
    summary: str
    organisation_id: int
    organisation_name: str
    agent_id: int | None
    agent_name: str | None
    escalated: bool
    created_at: datetime
    queued_at: datetime
    claimed_at: datetime | None
    closed_at: datetime | None
    waiting_s: float
    rating: int | None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict (datetimes as ISO 8601)."""
        out = dict(self.__dict__)
        for key in _VIEW_TIMES:
            value = out[key]
            if value is not None:
                out[key] = value.isoformat()
        return out


_VIEW_TIMES = ("created_at", "queued_at", "claimed_at", "closed_at")


@dataclass(frozen=True)
class HistoryItem:
    """One line of a conversation: the citizen, the assistant, a person, a note, an event."""

    key: str
    at: datetime
    author: str  # citizen | assistant | agent | note | event
    text: str
    agent_name: str | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "key": self.key,
            "at": self.at.isoformat(),
            "author": self.author,
            "text": self.text,
            "agent_name": self.agent_name,
        }


@dataclass(frozen=True)
class OrgStats:
    """A supervisor's view of one organisation."""

    organisation_id: int
    name: str
    queued: int
    claimed: int
    oldest_wait_s: float
    mean_wait_s: float
    mean_claim_s: float | None
    load: dict[str, int] = field(default_factory=dict)  # agent name -> open conversations
    ratings: int = 0
    rating_mean: float | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


def parse_rating(text: str) -> tuple[int, int] | None:
    """(handoff id, score) from a rating button payload, else None."""
    if not text.startswith(RATING_PREFIX):
        return None
    try:
        handoff_id, score = (int(p) for p in text[len(RATING_PREFIX) :].split())
    except ValueError:
        return None
    return (handoff_id, score) if score in RATING_SCORES else None


def _rating_payload(handoff_id: int, score: int) -> str:
    return f"{RATING_PREFIX}{handoff_id} {score}"


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC): make them comparable."""
    return at if at.tzinfo else at.replace(tzinfo=utcnow().tzinfo)


def _profile(org: Organisation) -> OrgProfile:
    return OrgProfile(
        id=org.id,
        slug=org.slug,
        name=org.name,
        languages=tuple(org.languages or ()),
        topics=tuple(org.topics or ()),
        areas=tuple(org.areas or ()),
        hours=parse_office_hours(org.office_hours),
        sla_minutes=org.sla_minutes,
        national_pool=org.national_pool,
    )


def _outbound_text(body: Mapping[str, Any]) -> str:
    """What the citizen saw, from a rendered platform body (Telegram bodies are HTML)."""
    if "html" in body:
        text = html.unescape(str(body.get("html") or ""))
    else:
        text = str(body.get("text") or "")
    titles = [str(b.get("title", "")) for b in body.get("buttons") or []]
    titles += [str(q.get("title", "")) for q in body.get("quick_replies") or []]
    if titles:
        text = f"{text}\n[{' | '.join(titles)}]".strip()
    return text.replace("\u2060", "").strip()


def _inbound_text(row: Inbound) -> str:
    if row.kind == "media":
        return f"[{row.meta.get('media', 'media')}]"
    if row.kind == "location":
        commune = row.meta.get("commune") or {}
        return f"[location {commune.get('name_latin') or ''}]".replace(" ]", "]")
    if row.text.startswith("/"):
        return f"[button {row.text.split('{')[0]}]"
    return row.text


class HandoffService:
    """All handoff state changes; the console and the pipeline call it."""

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

    # ----- set-up -------------------------------------------------------------------

    async def ensure_national_pool(self) -> None:
        """There is always somewhere to route to: create the national pool if missing."""
        async with self._store.writing() as session:
            await ensure_national_pool(session)
            await session.commit()

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
        """The handoff (as ``_visible``, not locked) and its organisation's name, in one
        query."""
        query = (
            select(Handoff, Organisation.name)
            .join(Organisation, Organisation.id == Handoff.organisation_id)
            .where(Handoff.id == handoff_id)
        )
        row = (await session.execute(query)).first()
        if row is None or not viewer.may_see(row[0].organisation_id):
            raise NotFound(f"no conversation {handoff_id}")
        return row[0], row[1]

    @property
    def _lock_rows(self) -> bool:
        return self._store.dialect == "postgresql"

    def _queued_notice(self, org: OrgProfile, language: str) -> dict[str, Any]:
        now = self._clock()
        if org.hours.is_open(now):
            return {"text": gateway_text("handoff_queued", language, org=org.name)}
        opening = org.hours.next_opening(now)
        when = when_text(opening, now, language) if opening else "?"
        return {"text": gateway_text("handoff_out_of_hours", language, org=org.name, when=when)}

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
                summary=request.summary[:2000],
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
            # who wrote it: the web chat shows "name · organisation" above a person's words
            author = {"name": viewer.display_name, "organisation": org.name if org else ""}
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
            await self._event(session, handoff, EventKind.NOTE, viewer, text[:MAX_REPLY_CHARS])
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
                [{"text": gateway_text("handoff_joined", chat.language, org=org.name)}],
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
