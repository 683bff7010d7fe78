"""Persistence of the conversation log: every inbound and outbound message, with its status."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import Table, TextClause, and_, bindparam, func, insert, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import make_transient_to_detached

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
from ._models import InboundMessage, OutboundKind

__all__ = ["NewOutbound", "Store"]

_Model = TypeVar("_Model", bound=Base)

ChatKey = tuple[str, str]
DEFAULT_LANGUAGE = "km"
# These UPDATEs run in short sessions that hold none of the rows they change, so the ORM
# need not look for objects to refresh (its default "auto" evaluates the WHERE clause
# against the session's identity map: most of an UPDATE's CPU in the gateway profile).
NO_SYNC: dict[str, Any] = {"synchronize_session": False}
KNOWN_CALLBACKS_MAX = 10_000  # callback keys remembered as stored (the bot's buttons: few)

# The pipeline's per-message statements run on Core tables and are built once: building an
# ORM statement, its cache key and the ORM's bulk-DML bookkeeping on every call was most of
# the gateway's CPU per message (bench/store_bench.py measures it), and on a small machine
# every millisecond the gateway spends is taken from Rasa.
_IN = cast(Table, Inbound.__table__)
_OUT = cast(Table, Outbound.__table__)
_CHAT = cast(Table, Chat.__table__)
_CALLBACKS = cast(Table, CallbackPayload.__table__)
_CHAT_PREFIX = "chat__"  # Chat.id as "chat__id": not to collide with Inbound.chat_id


def _insert_on_conflict(
    table: Table, keys: Sequence[str], conflict: Sequence[str], update: Sequence[str] = ()
) -> TextClause:
    """INSERT ... ON CONFLICT as text with the columns' types (same syntax on SQLite and
    PostgreSQL). SQLAlchemy's own dialect ``insert().on_conflict_*()`` is never cached
    (``inherit_cache = False``): it was compiled again for every message."""
    for name in (*keys, *conflict, *update):
        table.c[name]  # a KeyError here, at import, for a misspelt column
    action = "DO NOTHING"
    if update:
        action = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in update)
    # names from our own table metadata, never from input
    sql = (
        f"INSERT INTO {table.name} ({', '.join(keys)})"  # noqa: S608
        f" VALUES ({', '.join(':' + k for k in keys)})"
        f" ON CONFLICT ({', '.join(conflict)}) {action}"
    )
    return text(sql).bindparams(*(bindparam(k, type_=table.c[k].type) for k in keys))


_INGEST_INBOUND = _insert_on_conflict(
    _IN,
    (
        "channel",
        "external_id",
        "chat_id",
        "kind",
        "text",
        "meta",
        "status",
        "attempts",
        "due_at",
        "notice_sent",
        "created_at",
    ),
    ("channel", "external_id"),
)
_CHAT_KEYS = (
    "channel",
    "chat_id",
    "language",
    "active",
    "in_handoff",
    "resume_pending",
    "place_code",
    "created_at",
    "updated_at",
)
# Writing to us again means the bot is not blocked (any more); the message's language and
# shared place replace the chat's when the message has them: (language?, place?) -> upsert.
_UPSERT_CHAT = {
    (language, place): _insert_on_conflict(
        _CHAT,
        _CHAT_KEYS,
        ("channel", "chat_id"),
        ("active", "updated_at")
        + (("language",) if language else ())
        + (("place_code",) if place else ()),
    )
    for language in (False, True)
    for place in (False, True)
}
_INSERT_CALLBACKS = _insert_on_conflict(_CALLBACKS, ("key", "payload"), ("key",))
_NEXT_INBOUND = (
    select(*_IN.c, *(c.label(_CHAT_PREFIX + c.key) for c in _CHAT.c))
    .select_from(
        _IN.outerjoin(
            _CHAT, and_(_CHAT.c.channel == _IN.c.channel, _CHAT.c.chat_id == _IN.c.chat_id)
        )
    )
    .where(
        _IN.c.channel == bindparam("w_channel"),
        _IN.c.chat_id == bindparam("w_chat_id"),
        _IN.c.status == InboundStatus.PENDING,
    )
    .order_by(_IN.c.id)
    .limit(2)  # the second row only says whether another one waits
)
_PENDING_OUTBOUND = (
    select(_OUT)
    .where(
        _OUT.c.channel == bindparam("w_channel"),
        _OUT.c.chat_id == bindparam("w_chat_id"),
        _OUT.c.status == OutboundStatus.PENDING,
    )
    .order_by(_OUT.c.id)
)
_INSERT_OUTBOUND = insert(_OUT).returning(_OUT.c.id, sort_by_parameter_order=True)
_ANSWER_INBOUND = (
    update(_IN)
    .where(_IN.c.id == bindparam("w_id"))
    .values(status=bindparam("v_status"), answered_at=bindparam("v_answered_at"), error=None)
)
_MARK_SENT = (
    update(_OUT)
    .where(_OUT.c.id == bindparam("w_id"))
    .values(
        status=OutboundStatus.SENT,
        error=None,
        attempts=_OUT.c.attempts + 1,
        external_id=bindparam("v_external_id"),
        sent_at=bindparam("v_sent_at"),
    )
)


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
        self._engine: AsyncEngine = sessions.kw["bind"]
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

    @contextlib.asynccontextmanager
    async def _core_writing(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in one transaction, committed on success, serialised on SQLite."""
        async with self._write_lock, self._engine.begin() as conn:
            yield conn

    async def add_callbacks(
        self, session: AsyncSession | AsyncConnection, callbacks: Mapping[str, str]
    ) -> None:
        """Remember Telegram callback keys inside the caller's transaction."""
        new = {k: p for k, p in callbacks.items() if k not in self._known_callbacks}
        if new:
            await session.execute(
                _INSERT_CALLBACKS,
                [{"key": k, "payload": p} for k, p in new.items()],
            )

    def _callbacks_committed(self, callbacks: Mapping[str, str]) -> None:
        if len(self._known_callbacks) + len(callbacks) > KNOWN_CALLBACKS_MAX:
            self._known_callbacks.clear()
        self._known_callbacks.update(callbacks)

    async def ingest(self, msg: InboundMessage) -> bool:
        """Persist a citizen's message; False if (channel, external_id) was already seen.

        One round trip each for the message and its chat: redeliveries are common, and
        the unique constraint, not a prior SELECT, is what decides (no race).
        """
        now = utcnow()
        place_code = msg.meta.get("place_code")  # a shared location's commune
        async with self._write_lock, self._engine.connect() as conn:
            inserted = await conn.execute(
                _INGEST_INBOUND,
                {
                    "channel": msg.channel,
                    "external_id": msg.external_id,
                    "chat_id": msg.chat_id,
                    "kind": msg.kind,
                    "text": msg.text,
                    # the message's own language: later messages must not relabel it
                    "meta": {**msg.meta, **({"language": msg.language} if msg.language else {})},
                    "status": InboundStatus.PENDING,
                    "attempts": 0,
                    "due_at": 0.0,
                    "notice_sent": False,
                    "created_at": now,
                },
            )
            if not inserted.rowcount:
                await conn.rollback()
                return False
            await conn.execute(
                _UPSERT_CHAT[bool(msg.language), bool(place_code)],
                {
                    "channel": msg.channel,
                    "chat_id": msg.chat_id,
                    "language": msg.language or DEFAULT_LANGUAGE,
                    "active": True,
                    "in_handoff": False,
                    "resume_pending": False,
                    "place_code": place_code or None,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            await conn.commit()
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
                update(Chat)
                .where(Chat.channel == channel, Chat.chat_id == chat_id)
                .values(values)
                .execution_options(**NO_SYNC)
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
        async with self._engine.connect() as conn:
            result = await conn.execute(
                _PENDING_OUTBOUND, {"w_channel": channel, "w_chat_id": chat_id}
            )
            return [_loaded(Outbound, row._mapping) for row in result]

    async def next_inbound(
        self, channel: str, chat_id: str
    ) -> tuple[Inbound | None, Chat | None, bool]:
        """The oldest unanswered message of this chat, its chat row, and whether another
        message waits after it, in one query: the worker asks before every answer, and need
        not ask again once this one is answered unless another waits."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(_NEXT_INBOUND, {"w_channel": channel, "w_chat_id": chat_id})
            ).all()
        if not rows:
            return None, None, False
        return (*_inbound_and_chat(rows[0]), len(rows) > 1)

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

        Returns the rows it queued, in order (to send, and recorded handoff requests), so the
        caller need not re-read them.
        """
        values = [
            self.outbound_values(inbound.channel, inbound.chat_id, inbound.id, item)
            for item in outbound
        ]
        rows: list[Outbound] = []
        async with self._core_writing() as conn:
            await self.add_callbacks(conn, callbacks or {})
            if values:
                result = await conn.execute(_INSERT_OUTBOUND, values)
                rows = [
                    _loaded(Outbound, {**row_values, "id": row_id})
                    for row_values, (row_id,) in zip(values, result.all(), strict=True)
                ]
            await conn.execute(
                _ANSWER_INBOUND,
                {"w_id": inbound.id, "v_status": status, "v_answered_at": utcnow()},
            )
        self._callbacks_committed(callbacks or {})
        return rows

    async def unrouted_handoffs(self) -> Sequence[Outbound]:
        """Handoff requests recorded with an answer whose handoff was never opened (the
        process stopped in between), oldest first."""
        async with self._sessions() as session:
            found = await session.scalars(
                select(Outbound)
                .where(
                    Outbound.kind == OutboundKind.HANDOFF,
                    Outbound.status == OutboundStatus.RECORDED,
                )
                .order_by(Outbound.id)
            )
            return found.all()

    @staticmethod
    def outbound_values(
        channel: str,
        chat_id: str,
        inbound_id: int | None,
        item: NewOutbound,
        agent_id: int | None = None,
    ) -> dict[str, Any]:
        """Every column of a new, unsent outbound row but its id (for a Core INSERT)."""
        return {
            "agent_id": agent_id,
            "inbound_id": inbound_id,
            "channel": channel,
            "chat_id": chat_id,
            "kind": item.kind,
            "body": item.body,
            "status": item.status,
            "attempts": 0,
            "due_at": 0.0,
            "error": None,
            "external_id": None,
            "created_at": utcnow(),
            "sent_at": None,
        }

    @staticmethod
    def outbound_row(
        channel: str,
        chat_id: str,
        inbound_id: int | None,
        item: NewOutbound,
        agent_id: int | None = None,
    ) -> Outbound:
        """An unsent Outbound row for ``item`` (added to a session by the caller)."""
        return Outbound(**Store.outbound_values(channel, chat_id, inbound_id, item, agent_id))

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
            await session.execute(
                update(Inbound)
                .where(Inbound.id == inbound.id)
                .values(values)
                .execution_options(**NO_SYNC)
            )
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
        if (
            status == OutboundStatus.SENT
            and external_id is not None
            and error is None
            and delay_s is None
            and count_attempt
        ):  # every delivered message: the prebuilt statement
            async with self._core_writing() as conn:
                await conn.execute(
                    _MARK_SENT,
                    {"w_id": outbound_id, "v_external_id": external_id, "v_sent_at": utcnow()},
                )
            return
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
                update(Outbound)
                .where(Outbound.id == outbound_id)
                .values(values)
                .execution_options(**NO_SYNC)
            )
            await session.commit()

    async def mark_chat_blocked(
        self, outbound_id: int, channel: str, chat_id: str, error: str
    ) -> None:
        """The platform says the citizen blocked the bot: this send and everything still
        queued for the chat are given up and the chat is marked inactive, in one
        transaction (a crash or a reader in between never sees half of it)."""
        reason = error[:1000]
        async with self._write_lock, self._sessions() as session:
            await session.execute(
                update(Outbound)
                .where(Outbound.id == outbound_id)
                .values(
                    status=OutboundStatus.BLOCKED, error=reason, attempts=Outbound.attempts + 1
                )
                .execution_options(**NO_SYNC)
            )
            await session.execute(
                update(Outbound)
                .where(
                    Outbound.channel == channel,
                    Outbound.chat_id == chat_id,
                    Outbound.status == OutboundStatus.PENDING,
                )
                .values(status=OutboundStatus.BLOCKED, error=reason)
                .execution_options(**NO_SYNC)
            )
            await session.execute(
                update(Chat)
                .where(Chat.channel == channel, Chat.chat_id == chat_id)
                .values(active=False, updated_at=utcnow())
                .execution_options(**NO_SYNC)
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


def _loaded(model: type[_Model], values: Mapping[Any, Any]) -> _Model:
    """An ORM object from a Core row, detached as if a closed session had loaded it."""
    obj = model(**values)
    make_transient_to_detached(obj)
    return obj


def _inbound_and_chat(row: Row[Any]) -> tuple[Inbound, Chat | None]:
    values = row._mapping
    inbound = _loaded(Inbound, {c.key: values[c.key] for c in _IN.c})
    if values[_CHAT_PREFIX + "id"] is None:  # the chat row is written with the message
        return inbound, None
    chat = _loaded(Chat, {c.key: values[_CHAT_PREFIX + c.key] for c in _CHAT.c})
    return inbound, chat
