"""Persistence of the conversation log: every inbound and outbound message, with its status."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ._db import (
    Base,
    CallbackPayload,
    Chat,
    Inbound,
    InboundStatus,
    Outbound,
    OutboundStatus,
    utcnow,
)
from ._models import InboundMessage

__all__ = ["NewOutbound", "Store"]

ChatKey = tuple[str, str]
DEFAULT_LANGUAGE = "km"
KNOWN_CALLBACKS_MAX = 10_000  # callback keys remembered as stored (the bot's buttons: few)


@dataclass(frozen=True)
class NewOutbound:
    """A rendered platform message about to be persisted."""

    kind: str
    body: dict[str, Any]
    status: str = OutboundStatus.PENDING


class Store:
    """Small repository over the session factory; each method is one short transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._dialect = dialect
        # SQLite has one writer at a time; queueing writers here, in order, is fairer and
        # cheaper than letting them spin in SQLite's busy handler (the gateway is the only
        # writer process). PostgreSQL needs no such lock.
        self._write_lock: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if dialect == "sqlite" else contextlib.nullcontext()
        )
        # Callback keys this process saw committed: rows are never deleted and a key always
        # stands for the same payload, so most answers need no INSERT for their buttons.
        self._known_callbacks: set[str] = set()

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._dialect

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session for one write transaction (the caller commits), serialised on SQLite."""
        async with self._write_lock, self._sessions() as session:
            yield session

    def reading(self) -> AsyncSession:
        """A session for reads (use as ``async with store.reading() as session``)."""
        return self._sessions()

    async def add_callbacks(self, session: AsyncSession, callbacks: Mapping[str, str]) -> None:
        """Remember Telegram callback keys inside the caller's transaction."""
        new = {k: p for k, p in callbacks.items() if k not in self._known_callbacks}
        if new:
            await session.execute(
                self._insert(CallbackPayload)
                .values([{"key": k, "payload": p} for k, p in new.items()])
                .on_conflict_do_nothing(index_elements=["key"])
            )

    def _callbacks_committed(self, callbacks: Mapping[str, str]) -> None:
        if len(self._known_callbacks) + len(callbacks) > KNOWN_CALLBACKS_MAX:
            self._known_callbacks.clear()
        self._known_callbacks.update(callbacks)

    def _insert(self, table: type[Base]) -> Any:
        """INSERT with ON CONFLICT support for this dialect (SQLite and PostgreSQL agree)."""
        return (pg_insert if self._dialect == "postgresql" else sqlite_insert)(table)

    async def ingest(self, msg: InboundMessage) -> bool:
        """Persist a citizen's message; False if (channel, external_id) was already seen.

        One round trip each for the message and its chat: redeliveries are common, and
        the unique constraint, not a prior SELECT, is what decides (no race).
        """
        now = utcnow()
        async with self._write_lock, self._sessions() as session:
            inserted = await session.execute(
                self._insert(Inbound)
                .values(
                    channel=msg.channel,
                    external_id=msg.external_id,
                    chat_id=msg.chat_id,
                    kind=msg.kind,
                    text=msg.text,
                    # the message's own language: later messages must not relabel it
                    meta={**msg.meta, **({"language": msg.language} if msg.language else {})},
                    status=InboundStatus.PENDING,
                    attempts=0,
                    due_at=0.0,
                    notice_sent=False,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["channel", "external_id"])
            )
            if not cast("CursorResult[Any]", inserted).rowcount:
                await session.rollback()
                return False
            # Writing to us again means the bot is not blocked (any more).
            changes: dict[str, Any] = {"active": True, "updated_at": now}
            if msg.language:
                changes["language"] = msg.language
            place_code = msg.meta.get("place_code")  # a shared location's commune
            if place_code:
                changes["place_code"] = place_code
            await session.execute(
                self._insert(Chat)
                .values(
                    channel=msg.channel,
                    chat_id=msg.chat_id,
                    language=msg.language or DEFAULT_LANGUAGE,
                    active=True,
                    in_handoff=False,
                    resume_pending=False,
                    place_code=place_code or None,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_update(index_elements=["channel", "chat_id"], set_=changes)
            )
            await session.commit()
            return True

    async def chat(self, channel: str, chat_id: str) -> Chat | None:
        """The chat row (language, active, handoff), if the citizen ever wrote."""
        async with self._sessions() as session:
            chat: Chat | None = await session.scalar(
                select(Chat).where(Chat.channel == channel, Chat.chat_id == chat_id)
            )
            return chat

    async def set_chat_flags(
        self,
        channel: str,
        chat_id: str,
        *,
        active: bool | None = None,
        in_handoff: bool | None = None,
    ) -> None:
        """Mark a chat inactive (blocked bot) or in handoff."""
        values: dict[str, Any] = {"updated_at": utcnow()}
        if active is not None:
            values["active"] = active
        if in_handoff is not None:
            values["in_handoff"] = in_handoff
        async with self._write_lock, self._sessions() as session:
            await session.execute(
                update(Chat).where(Chat.channel == channel, Chat.chat_id == chat_id).values(values)
            )
            await session.commit()

    async def due_chats(self, now: float, limit: int) -> list[ChatKey]:
        """Chats with inbound or outbound work due now, oldest work first."""
        async with self._sessions() as session:
            inbound = (
                select(Inbound.channel, Inbound.chat_id, func.min(Inbound.id).label("first"))
                .where(Inbound.status == InboundStatus.PENDING, Inbound.due_at <= now)
                .group_by(Inbound.channel, Inbound.chat_id)
            )
            outbound = (
                select(Outbound.channel, Outbound.chat_id, func.min(Outbound.id).label("first"))
                .where(Outbound.status == OutboundStatus.PENDING, Outbound.due_at <= now)
                .group_by(Outbound.channel, Outbound.chat_id)
            )
            rows = list((await session.execute(inbound.limit(limit))).all())
            rows += list((await session.execute(outbound.limit(limit))).all())
        seen: dict[ChatKey, None] = {}
        for channel, chat_id, _first in sorted(rows, key=lambda r: r[2]):
            seen.setdefault((channel, chat_id), None)
        return list(seen)[:limit]

    async def next_due_at(self, after: float) -> float | None:
        """Earliest retry scheduled later than ``after``, so the worker sleeps until then.

        Work already due is either running (its task wakes the worker when done) or was just
        started, so it must not make the worker spin.
        """
        async with self._sessions() as session:
            a = await session.scalar(
                select(func.min(Inbound.due_at)).where(
                    Inbound.status == InboundStatus.PENDING, Inbound.due_at > after
                )
            )
            b = await session.scalar(
                select(func.min(Outbound.due_at)).where(
                    Outbound.status == OutboundStatus.PENDING, Outbound.due_at > after
                )
            )
        candidates = [v for v in (a, b) if v is not None]
        return min(candidates) if candidates else None

    async def pending_outbound(self, channel: str, chat_id: str) -> Sequence[Outbound]:
        """This chat's unsent messages, in the order they must reach the citizen."""
        async with self._sessions() as session:
            result = await session.scalars(
                select(Outbound)
                .where(
                    Outbound.channel == channel,
                    Outbound.chat_id == chat_id,
                    Outbound.status == OutboundStatus.PENDING,
                )
                .order_by(Outbound.id)
            )
            return result.all()

    async def next_inbound(self, channel: str, chat_id: str) -> tuple[Inbound | None, Chat | None]:
        """The oldest unanswered message of this chat and the chat row, in one query.

        The worker asks this before every answer: one round trip instead of two.
        """
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Inbound, Chat)
                    .outerjoin(
                        Chat, (Chat.channel == Inbound.channel) & (Chat.chat_id == Inbound.chat_id)
                    )
                    .where(
                        Inbound.channel == channel,
                        Inbound.chat_id == chat_id,
                        Inbound.status == InboundStatus.PENDING,
                    )
                    .order_by(Inbound.id)
                    .limit(1)
                )
            ).first()
        if row is None:
            return None, None
        return row[0], row[1]

    async def first_pending_inbound(self, channel: str, chat_id: str) -> Inbound | None:
        """The oldest unanswered message of this chat (answers go strictly in order)."""
        async with self._sessions() as session:
            row: Inbound | None = await session.scalar(
                select(Inbound)
                .where(
                    Inbound.channel == channel,
                    Inbound.chat_id == chat_id,
                    Inbound.status == InboundStatus.PENDING,
                )
                .order_by(Inbound.id)
                .limit(1)
            )
            return row

    async def complete_inbound(
        self,
        inbound: Inbound,
        status: str,
        outbound: Sequence[NewOutbound],
        callbacks: dict[str, str] | None = None,
    ) -> list[Outbound]:
        """Atomically mark the message answered and queue its replies (so a crash loses none).

        Returns the queued rows still to send, in order, so the caller need not re-read them.
        """
        async with self._write_lock, self._sessions() as session:
            await self.add_callbacks(session, callbacks or {})
            rows = [
                self.outbound_row(inbound.channel, inbound.chat_id, inbound.id, item)
                for item in outbound
            ]
            session.add_all(rows)
            await session.execute(
                update(Inbound)
                .where(Inbound.id == inbound.id)
                .values(status=status, answered_at=utcnow(), error=None)
            )
            await session.commit()
        self._callbacks_committed(callbacks or {})
        return [r for r in rows if r.status == OutboundStatus.PENDING]

    @staticmethod
    def outbound_row(
        channel: str,
        chat_id: str,
        inbound_id: int | None,
        item: NewOutbound,
        agent_id: int | None = None,
    ) -> Outbound:
        """An unsent Outbound row for ``item`` (added to a session by the caller)."""
        return Outbound(
            agent_id=agent_id,
            inbound_id=inbound_id,
            channel=channel,
            chat_id=chat_id,
            kind=item.kind,
            body=item.body,
            status=item.status,
            attempts=0,
            due_at=0.0,
        )

    async def postpone_inbound(
        self, inbound: Inbound, delay_s: float, error: str, notice: NewOutbound | None
    ) -> list[Outbound]:
        """Rasa failed: retry later; queue the one "answer delayed" notice if given."""
        async with self._write_lock, self._sessions() as session:
            values: dict[str, Any] = {
                "attempts": Inbound.attempts + 1,
                "due_at": time.time() + delay_s,
                "error": error[:1000],
            }
            rows = []
            if notice is not None:
                values["notice_sent"] = True
                rows.append(
                    self.outbound_row(inbound.channel, inbound.chat_id, inbound.id, notice)
                )
                session.add_all(rows)
            await session.execute(update(Inbound).where(Inbound.id == inbound.id).values(values))
            await session.commit()
        return rows

    async def mark_outbound(
        self,
        outbound_id: int,
        status: str,
        *,
        external_id: str | None = None,
        error: str | None = None,
        delay_s: float | None = None,
        count_attempt: bool = True,
    ) -> None:
        """Record a send's outcome: sent, failed, blocked, or pending again after ``delay_s``."""
        values: dict[str, Any] = {"status": status, "error": error[:1000] if error else None}
        if count_attempt:
            values["attempts"] = Outbound.attempts + 1
        if external_id is not None:
            values["external_id"] = external_id
        if status == OutboundStatus.SENT:
            values["sent_at"] = utcnow()
        if delay_s is not None:
            values["due_at"] = time.time() + delay_s
        async with self._write_lock, self._sessions() as session:
            await session.execute(
                update(Outbound).where(Outbound.id == outbound_id).values(values)
            )
            await session.commit()

    async def block_pending(self, channel: str, chat_id: str, error: str) -> None:
        """A blocked chat: give up on everything still queued for it."""
        async with self._write_lock, self._sessions() as session:
            await session.execute(
                update(Outbound)
                .where(
                    Outbound.channel == channel,
                    Outbound.chat_id == chat_id,
                    Outbound.status == OutboundStatus.PENDING,
                )
                .values(status=OutboundStatus.BLOCKED, error=error)
            )
            await session.commit()

    async def callback_payload(self, key: str) -> str | None:
        """The Rasa payload behind a Telegram callback_data key."""
        async with self._sessions() as session:
            row = await session.get(CallbackPayload, key)
            return row.payload if row else None

    async def sent_since(self, channel: str, chat_id: str, after_id: int) -> Sequence[Outbound]:
        """Delivered messages after ``after_id`` (the web chat polls with this)."""
        async with self._sessions() as session:
            result = await session.scalars(
                select(Outbound)
                .where(
                    Outbound.channel == channel,
                    Outbound.chat_id == chat_id,
                    Outbound.id > after_id,
                    Outbound.status == OutboundStatus.SENT,
                )
                .order_by(Outbound.id)
            )
            return result.all()

    async def counts(self) -> dict[str, int]:
        """Queue depths for /healthz and /metrics."""
        async with self._sessions() as session:
            pending_in = await session.scalar(
                select(func.count())
                .select_from(Inbound)
                .where(Inbound.status == InboundStatus.PENDING)
            )
            pending_out = await session.scalar(
                select(func.count())
                .select_from(Outbound)
                .where(Outbound.status == OutboundStatus.PENDING)
            )
        return {"inbound_pending": int(pending_in or 0), "outbound_pending": int(pending_out or 0)}
