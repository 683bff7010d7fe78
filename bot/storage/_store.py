"""Persistence of the conversation log: every inbound and outbound message, with its status."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Boolean,
    Table,
    TextClause,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import CursorResult, Row
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
from ._models import InboundMessage, OutboundKind, Priority, priority_of

log = logging.getLogger("bot.store")

__all__ = ["UNCONFIRMED_ERROR", "Claim", "NewOutbound", "Store", "TurnStart", "new_owner_id"]

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
    table: Table,
    keys: Sequence[str],
    conflict: Sequence[str],
    update: Sequence[str] = (),
    *,
    rows: int = 1,
) -> TextClause:
    """INSERT ... ON CONFLICT as text with the columns' types (same syntax on SQLite and
    PostgreSQL). SQLAlchemy's own dialect ``insert().on_conflict_*()`` is never cached
    (``inherit_cache = False``): it was compiled again for every message. With ``rows``
    above 1, one statement inserts that many rows (parameters ``key_0``, ``key_1``, ...)."""
    for name in (*keys, *conflict, *update):
        table.c[name]  # a KeyError here, at import, for a misspelt column
    action = "DO NOTHING"
    if update:
        action = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in update)
    names = [list(keys)] if rows == 1 else [[f"{k}_{i}" for k in keys] for i in range(rows)]
    values = ", ".join("(" + ", ".join(":" + n for n in row) + ")" for row in names)
    # names from our own table metadata, never from input
    sql = (
        f"INSERT INTO {table.name} ({', '.join(keys)})"  # noqa: S608
        f" VALUES {values}"
        f" ON CONFLICT ({', '.join(conflict)}) {action}"
    )
    return text(sql).bindparams(
        *(
            bindparam(n, type_=table.c[k].type)
            for row in names
            for k, n in zip(keys, row, strict=True)
        )
    )


def _numbered(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters of a multi-row statement: row i's ``key`` as ``key_i``."""
    return {f"{k}_{i}": v for i, row in enumerate(rows) for k, v in row.items()}


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
_CALLBACK_KEYS = ("key", "payload")
_INSERT_CALLBACKS = _insert_on_conflict(_CALLBACKS, _CALLBACK_KEYS, ("key",))
_UNANSWERED = (InboundStatus.PENDING, InboundStatus.AT_RASA)
_UNSENT = (OutboundStatus.PENDING, OutboundStatus.CLAIMED, OutboundStatus.SENDING)
_OPEN_TURN = (InboundStatus.PENDING, InboundStatus.AT_RASA)  # a message not yet answered
_HELD = (OutboundStatus.CLAIMED, OutboundStatus.SENDING)
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
        _IN.c.status.in_(_UNANSWERED),
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
_OUTBOUND_KEYS = tuple(c.key for c in _OUT.c if c.key != "id")


@functools.cache
def _insert_outbound_rows(rows: int) -> TextClause:
    """SQLite: ``rows`` outbound rows in one INSERT, RETURNING their ids (SQLAlchemy's
    ``insertmanyvalues`` sends one INSERT per row there, to keep RETURNING in order)."""
    values = ", ".join(
        "(" + ", ".join(f":{k}_{i}" for k in _OUTBOUND_KEYS) + ")" for i in range(rows)
    )
    sql = f"INSERT INTO {_OUT.name} ({', '.join(_OUTBOUND_KEYS)}) VALUES {values} RETURNING id"  # noqa: S608
    return text(sql).bindparams(
        *(bindparam(f"{k}_{i}", type_=_OUT.c[k].type) for i in range(rows) for k in _OUTBOUND_KEYS)
    )


@functools.cache
def _insert_callbacks_rows(rows: int) -> TextClause:
    return _insert_on_conflict(_CALLBACKS, _CALLBACK_KEYS, ("key",), rows=rows)


# A turn is finished once: a process whose chat lease ran out while it waited (a stalled
# event loop) may come back with an answer another process already gave; its UPDATE then
# changes nothing and its replies are not queued (a citizen never gets one answer twice).
_ANSWER_INBOUND = (
    update(_IN)
    .where(_IN.c.id == bindparam("w_id"), _IN.c.status.in_(_OPEN_TURN))
    .values(status=bindparam("v_status"), answered_at=bindparam("v_answered_at"), error=None)
)
# ----- conversation claims: one process answers a chat at a time --------------------------
_CHAT_IS = and_(
    _CHAT.c.channel == bindparam("w_channel"), _CHAT.c.chat_id == bindparam("w_chat_id")
)
_CLAIM_CHAT = (
    update(_CHAT)
    .where(
        _CHAT_IS,
        or_(
            _CHAT.c.lease_owner.is_(None),
            _CHAT.c.lease_owner == bindparam("w_owner"),
            _CHAT.c.lease_until < bindparam("w_now"),  # its process died: take it over
        ),
    )
    .values(lease_owner=bindparam("v_owner"), lease_until=bindparam("v_until"))
)
_RELEASE_CHAT = (
    update(_CHAT)
    .where(_CHAT_IS, _CHAT.c.lease_owner == bindparam("w_owner"))
    .values(lease_owner=None, lease_until=None)
)
_RENEW_CHATS = (
    update(_CHAT)
    .where(_CHAT.c.lease_owner == bindparam("w_owner"))
    .values(lease_until=bindparam("v_until"))
)
# Both only while the message's turn is open: a process that read it before another
# finished it (then released the chat) must not start it again.
_AT_RASA = (
    update(_IN)
    .where(_IN.c.id == bindparam("w_id"), _IN.c.status.in_(_OPEN_TURN))
    .values(status=InboundStatus.AT_RASA, attempts=_IN.c.attempts + 1)
)
_STILL_OPEN = (
    update(_IN)
    .where(_IN.c.id == bindparam("w_id"), _IN.c.status.in_(_OPEN_TURN))
    .values(status=_IN.c.status)
)
_DUE_CHATS = (
    select(_IN.c.channel, _IN.c.chat_id, func.min(_IN.c.id).label("first"))
    .select_from(
        _IN.join(_CHAT, and_(_CHAT.c.channel == _IN.c.channel, _CHAT.c.chat_id == _IN.c.chat_id))
    )
    .where(
        _IN.c.status.in_(_UNANSWERED),
        _IN.c.due_at <= bindparam("w_now"),
        or_(
            _CHAT.c.lease_owner.is_(None),
            _CHAT.c.lease_owner == bindparam("w_owner"),
            _CHAT.c.lease_until < bindparam("w_now"),
        ),
    )
    .group_by(_IN.c.channel, _IN.c.chat_id)
    .order_by(func.min(_IN.c.id))
    .limit(bindparam("w_limit"))
)

# ----- delivery claims: each row is sent by one worker, per chat in order ----------------
_CANDIDATE = _OUT.alias("candidate")
_EARLIER = _OUT.alias("earlier")
_LEASE: dict[str, Any] = {"lease_owner": bindparam("v_owner"), "lease_until": bindparam("v_until")}
_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_until": None}
# Pending and due, by priority; claimable only when no earlier row of its chat is unsent,
# so one claim never holds two rows of a chat. SKIP LOCKED (PostgreSQL; SQLite has one
# writer) lets several processes claim at once without waiting for each other.
_CLAIM_IDS = (
    select(_CANDIDATE.c.id)
    .where(
        _CANDIDATE.c.status == OutboundStatus.PENDING,
        _CANDIDATE.c.due_at <= bindparam("w_now"),
        ~exists().where(
            _EARLIER.c.channel == _CANDIDATE.c.channel,
            _EARLIER.c.chat_id == _CANDIDATE.c.chat_id,
            _EARLIER.c.id < _CANDIDATE.c.id,
            _EARLIER.c.status.in_(_UNSENT),
        ),
    )
    .order_by(_CANDIDATE.c.priority, _CANDIDATE.c.id)
    .limit(bindparam("w_limit"))
    .with_for_update(skip_locked=True, of=_CANDIDATE)
)
# A CTE with FOR UPDATE is evaluated once (PostgreSQL never inlines it): a plain IN
# (subquery ... LIMIT ... SKIP LOCKED) may be re-run by the plan and claim more rows.
_CLAIMED = _CLAIM_IDS.cte("claimed")
# A claim returns all its send needs, in the claiming statement: the message sent to the
# chat just before the row (its buttons belong to a turn the conversation has left:
# channels whose buttons stay tappable retire them) and whether a conversation row waits
# after it (then a pace slot for it is taken before the row's result is recorded).
# As SQL text: SQLite's RETURNING names columns unqualified, which would correlate
# SQLAlchemy's subqueries to themselves. Constants from our own enums, never from input.
_PREVIOUS_SENT = (
    "(SELECT prev.{column} FROM gw_outbound AS prev"  # noqa: S608
    " WHERE prev.channel = gw_outbound.channel AND prev.chat_id = gw_outbound.chat_id"
    f" AND prev.id < gw_outbound.id AND prev.status = '{OutboundStatus.SENT.value}'"
    " ORDER BY prev.id DESC LIMIT 1)"
)
_CLAIM_RETURNS = (
    *_OUT.c,
    literal_column(_PREVIOUS_SENT.format(column="external_id"), _OUT.c.external_id.type).label(
        "before_external_id"
    ),
    literal_column(_PREVIOUS_SENT.format(column="body"), _OUT.c.body.type).label("before_body"),
    literal_column(
        "EXISTS (SELECT 1 FROM gw_outbound AS nxt"  # noqa: S608
        " WHERE nxt.channel = gw_outbound.channel AND nxt.chat_id = gw_outbound.chat_id"
        f" AND nxt.id > gw_outbound.id AND nxt.status = '{OutboundStatus.PENDING.value}'"
        f" AND nxt.priority < {int(Priority.BULK)})",
        Boolean(),
    ).label("has_next"),
)
_CLAIM_OUTBOUND = (
    update(_OUT)
    .where(_OUT.c.id.in_(select(_CLAIMED.c.id)))
    .values(status=OutboundStatus.CLAIMED, **_LEASE)
    .returning(*_CLAIM_RETURNS)
)
# The chat's next row, claimed in the transaction that records the previous one: a
# reply of several messages goes out without a claim query per message; ``sending`` at
# once (no mark_sending) when its pace slot is already taken and due now.
_CHAT_HEAD = (
    select(_CANDIDATE.c.id)
    .where(
        _CANDIDATE.c.channel == bindparam("w_channel"),
        _CANDIDATE.c.chat_id == bindparam("w_chat_id"),
        _CANDIDATE.c.status.in_(_UNSENT),
    )
    .order_by(_CANDIDATE.c.id)
    .limit(1)
    .with_for_update(skip_locked=True, of=_CANDIDATE)
)
_HEAD = _CHAT_HEAD.cte("head")
_CLAIM_NEXT_OF_CHAT = (
    update(_OUT)
    .where(
        _OUT.c.id.in_(select(_HEAD.c.id)),
        _OUT.c.status == OutboundStatus.PENDING,
        _OUT.c.due_at <= bindparam("w_now"),
        _OUT.c.priority < Priority.BULK,
    )
    .values(status=bindparam("v_status"), **_LEASE)
    .returning(*_CLAIM_RETURNS)
)
_OWNED = and_(_OUT.c.id == bindparam("w_id"), _OUT.c.lease_owner == bindparam("w_owner"))
_OWNED_HELD = and_(_OWNED, _OUT.c.status.in_(_HELD))
# Recorded before the platform call, so a process killed during it is known to have
# (perhaps) sent the row: that row is never sent again (see _EXPIRE_SENDING).
_MARK_SENDING = (
    update(_OUT)
    .where(_OWNED, _OUT.c.status == OutboundStatus.CLAIMED)
    .values(status=OutboundStatus.SENDING)
)
# A row claimed ``sending`` with the previous one's result whose pace slot passed while
# that was written: it waits for a new slot as ``claimed`` (a kill then leaves it to be
# sent by another process, not unconfirmed).
_UNMARK_SENDING = (
    update(_OUT)
    .where(_OWNED, _OUT.c.status == OutboundStatus.SENDING)
    .values(status=OutboundStatus.CLAIMED)
)
# Sent is recorded even if an impatient peer already called the row unconfirmed.
_RECORD_SENT = (
    update(_OUT)
    .where(_OWNED, _OUT.c.status.in_((OutboundStatus.SENDING, OutboundStatus.UNCONFIRMED)))
    .values(
        status=OutboundStatus.SENT,
        error=None,
        attempts=_OUT.c.attempts + 1,
        external_id=bindparam("v_external_id"),
        sent_at=bindparam("v_sent_at"),
        **_NO_LEASE,
    )
)
_RECORD_RETRY = (
    update(_OUT)
    .where(_OWNED_HELD)
    .values(
        status=OutboundStatus.PENDING,
        error=bindparam("v_error"),
        attempts=_OUT.c.attempts + bindparam("v_counted"),
        due_at=bindparam("v_due_at"),
        **_NO_LEASE,
    )
)
_GIVE_BACK = (
    update(_OUT)
    .where(_OWNED_HELD)
    .values(status=OutboundStatus.PENDING, due_at=bindparam("v_due_at"), **_NO_LEASE)
)
_RECORD_FINAL = (
    update(_OUT)
    .where(_OWNED_HELD)
    .values(
        status=bindparam("v_status"),
        error=bindparam("v_error"),
        attempts=_OUT.c.attempts + 1,
        **_NO_LEASE,
    )
)
_GIVE_UP_CHAT_QUEUE = (
    update(_OUT)
    .where(
        _OUT.c.channel == bindparam("w_channel"),
        _OUT.c.chat_id == bindparam("w_chat_id"),
        _OUT.c.status == OutboundStatus.PENDING,
    )
    .values(status=OutboundStatus.BLOCKED, error=bindparam("v_error"))
)
_CHAT_INACTIVE = update(_CHAT).where(_CHAT_IS).values(active=False, updated_at=bindparam("v_at"))
_EXPIRE_SENDING = (
    update(_OUT)
    .where(
        _OUT.c.status == OutboundStatus.SENDING,
        _OUT.c.lease_until < bindparam("w_now"),
        # bulk rows (bot.delivery._bulk) go back to their queue instead
        text("broadcast_id IS NULL"),
    )
    .values(status=OutboundStatus.UNCONFIRMED, error=bindparam("v_error"))
    .returning(_OUT.c.channel)
)
# Held but never tried by a process that died: safe to send, so back in the queue.
_EXPIRE_CLAIMED = (
    update(_OUT)
    .where(_OUT.c.status == OutboundStatus.CLAIMED, _OUT.c.lease_until < bindparam("w_now"))
    .values(status=OutboundStatus.PENDING, **_NO_LEASE)
)
_RENEW_SENDING = (
    update(_OUT)
    .where(_OUT.c.status.in_(_HELD), _OUT.c.lease_owner == bindparam("w_owner"))
    .values(lease_until=bindparam("v_until"))
)
UNCONFIRMED_ERROR = "the process stopped during the send; not repeated"


def new_owner_id() -> str:
    """A lease owner unique across machines and restarts: host, pid and a random part."""
    host = socket.gethostname()[:32]
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"


class TurnStart(StrEnum):
    """What ``begin_turn`` found: the message is this process's to answer now, or not."""

    OURS = "ours"
    ELSEWHERE = "elsewhere"  # another live process holds the chat's lease
    FINISHED = "finished"  # answered since it was read: go on with the next message


@dataclass(frozen=True)
class Claim:
    """A row this process holds to send, with what the send needs besides the row."""

    row: Outbound
    #: the platform id of the message sent to the chat just before ``row``, if that one
    #: had buttons (to take them off once ``row`` is out)
    earlier_buttons: str | None
    #: a conversation row of the chat, due, waits after this one
    has_next: bool

    @classmethod
    def from_row(cls, found: Row[Any]) -> Claim:
        values = found._mapping
        body = values["before_body"]
        external_id = values["before_external_id"]
        buttons = isinstance(body, dict) and bool(body.get("buttons")) and bool(external_id)
        return cls(
            _loaded(Outbound, {c.key: values[c.key] for c in _OUT.c}),
            str(external_id) if buttons else None,
            bool(values["has_next"]),
        )


@dataclass(frozen=True)
class NewOutbound:
    """A rendered platform message about to be persisted."""

    kind: str
    body: dict[str, Any]
    status: str = OutboundStatus.PENDING


class Store:
    """Small repository over the session factory; each method is one short transaction."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], dialect: str, owner: str = ""
    ) -> None:
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
        self._owner = owner or new_owner_id()

    @property
    def owner(self) -> str:
        """This process's name on the leases it takes (host:pid:random)."""
        return self._owner

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
        new = [
            {"key": k, "payload": p}
            for k, p in callbacks.items()
            if k not in self._known_callbacks
        ]
        if len(new) == 1:
            await session.execute(_INSERT_CALLBACKS, new[0])
        elif new:  # one statement, not one per key
            await session.execute(_insert_callbacks_rows(len(new)), _numbered(new))

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
        """Chats with messages to answer due now and no other live process answering
        them, oldest message first (outbound work is the delivery engine's)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                _DUE_CHATS, {"w_now": now, "w_owner": self.owner, "w_limit": limit}
            )
            return [(channel, chat_id) for channel, chat_id, _first in rows]

    async def next_due_at(self, after: float) -> float | None:
        """Earliest retry of a message scheduled later than ``after``, so the worker
        sleeps until then.

        Work already due is either running (its task wakes the worker when done) or was just
        started, so it must not make the worker spin.
        """
        async with self._sessions() as session:
            due: float | None = await session.scalar(
                select(func.min(Inbound.due_at)).where(
                    Inbound.status.in_(_UNANSWERED), Inbound.due_at > after
                )
            )
        return due

    # ----- conversation claims ------------------------------------------------------------

    async def begin_turn(self, inbound: Inbound, until: float, *, at_rasa: bool) -> TurnStart:
        """Take (or renew) this chat's lease and, for a message going to Rasa, commit it
        as ``at_rasa`` with its attempt counted, in one transaction. ELSEWHERE if another
        live process answers the chat; FINISHED if the message was answered since it was
        read (nothing is changed then)."""
        async with self._core_writing() as conn:
            claimed = await conn.execute(
                _CLAIM_CHAT,
                {
                    "w_channel": inbound.channel,
                    "w_chat_id": inbound.chat_id,
                    "w_owner": self.owner,
                    "w_now": time.time(),
                    "v_owner": self.owner,
                    "v_until": until,
                },
            )
            if claimed.rowcount != 1:
                await conn.rollback()
                return TurnStart.ELSEWHERE
            opened = await conn.execute(_AT_RASA if at_rasa else _STILL_OPEN, {"w_id": inbound.id})
            if opened.rowcount != 1:
                await conn.rollback()
                return TurnStart.FINISHED
        return TurnStart.OURS

    async def release_chat(self, channel: str, chat_id: str) -> None:
        """Give this process's lease on the chat up (the end of a drain)."""
        async with self._core_writing() as conn:
            await conn.execute(_RELEASE_CHAT, self._chat_owned(channel, chat_id))

    async def renew_leases(self, until: float) -> None:
        """Extend every lease this process holds, chats and sends, in one transaction: a
        process that stops renewing (killed) is taken over once they expire."""
        params = {"w_owner": self.owner, "v_until": until}
        async with self._core_writing() as conn:
            await conn.execute(_RENEW_CHATS, params)
            await conn.execute(_RENEW_SENDING, params)

    def _chat_owned(self, channel: str, chat_id: str) -> dict[str, Any]:
        return {"w_channel": channel, "w_chat_id": chat_id, "w_owner": self.owner}

    # ----- delivery claims ----------------------------------------------------------------

    async def claim_outbound(self, now: float, until: float, limit: int) -> list[Claim]:
        """Claim up to ``limit`` due rows for this process (``claimed``, leased until
        ``until``), at most one per chat, replies before bulk: sorted by priority, id."""
        params = {"w_now": now, "w_limit": limit, "v_owner": self.owner, "v_until": until}
        async with self._core_writing() as conn:
            result = await conn.execute(_CLAIM_OUTBOUND, params)
            claims = [Claim.from_row(found) for found in result]
        claims.sort(key=lambda c: (c.row.priority, c.row.id))
        return claims

    async def mark_sending(self, row: Outbound) -> bool:
        """Record that the platform call starts now; False if the claim is no longer ours
        (then the row must not be sent)."""
        async with self._core_writing() as conn:
            done = await conn.execute(_MARK_SENDING, {"w_id": row.id, "w_owner": self.owner})
        return bool(done.rowcount == 1)

    async def unmark_sending(self, row: Outbound) -> bool:
        """``sending`` back to ``claimed`` (nothing reached the platform; its send waits for
        a new pace slot); False if the claim is no longer ours."""
        async with self._core_writing() as conn:
            done = await conn.execute(_UNMARK_SENDING, {"w_id": row.id, "w_owner": self.owner})
        return bool(done.rowcount == 1)

    async def record_sent(
        self,
        row: Outbound,
        external_id: str | None,
        *,
        chain_until: float | None = None,
        chain_sending: bool = False,
    ) -> tuple[bool, Claim | None]:
        """The platform has it: record that and end the claim; with ``chain_until``, claim
        the chat's next conversation row in the same transaction, already ``sending`` with
        ``chain_sending`` (its pace slot is taken and due now: it goes out next, without a
        mark_sending). Returns (recorded while still ours?, the next row's claim)."""
        following = None
        async with self._core_writing() as conn:
            done = await conn.execute(
                _RECORD_SENT,
                {
                    "w_id": row.id,
                    "w_owner": self.owner,
                    "v_external_id": external_id,
                    "v_sent_at": utcnow(),
                },
            )
            if chain_until is not None:
                result = await conn.execute(
                    _CLAIM_NEXT_OF_CHAT,
                    {
                        **self._chat_owned(row.channel, row.chat_id),
                        "w_now": time.time(),
                        "v_owner": self.owner,
                        "v_until": chain_until,
                        "v_status": (
                            OutboundStatus.SENDING if chain_sending else OutboundStatus.CLAIMED
                        ),
                    },
                )
                found = result.first()
                following = Claim.from_row(found) if found is not None else None
        return done.rowcount == 1, following

    async def record_retry(
        self, row: Outbound, delay_s: float, error: str, *, counted: bool = True
    ) -> bool:
        """Not sent: pending again after ``delay_s`` (later rows of the chat wait)."""
        return await self._end_claim(
            _RECORD_RETRY,
            row,
            {
                "v_error": error[:1000],
                "v_counted": int(counted),
                "v_due_at": time.time() + delay_s,
            },
        )

    async def give_back(self, row: Outbound, delay_s: float = 0.0) -> bool:
        """Never attempted (a stop, a pacing wait too long to hold the claim): pending
        again, due after ``delay_s``, attempts unchanged."""
        return await self._end_claim(_GIVE_BACK, row, {"v_due_at": time.time() + delay_s})

    async def record_failed(self, row: Outbound, error: str) -> bool:
        """Given up: retrying cannot deliver it."""
        return await self._end_claim(
            _RECORD_FINAL, row, {"v_status": OutboundStatus.FAILED, "v_error": error[:1000]}
        )

    async def record_blocked(self, row: Outbound, error: str) -> bool:
        """The citizen blocked the bot: this row, the chat's queue and its inactive flag in
        one transaction (a crash or a reader in between never sees half of it)."""
        reason = error[:1000]
        async with self._core_writing() as conn:
            done = await conn.execute(
                _RECORD_FINAL,
                {
                    "w_id": row.id,
                    "w_owner": self.owner,
                    "v_status": OutboundStatus.BLOCKED,
                    "v_error": reason,
                },
            )
            if done.rowcount != 1:
                await conn.rollback()
                return False
            chat = {"w_channel": row.channel, "w_chat_id": row.chat_id}
            await conn.execute(_GIVE_UP_CHAT_QUEUE, {**chat, "v_error": reason})
            await conn.execute(_CHAT_INACTIVE, {**chat, "v_at": utcnow()})
        return True

    async def _end_claim(self, statement: Any, row: Outbound, values: dict[str, Any]) -> bool:
        async with self._core_writing() as conn:
            done = await conn.execute(statement, {"w_id": row.id, "w_owner": self.owner, **values})
        return bool(done.rowcount == 1)

    async def expire_sending(self, now: float) -> list[str]:
        """Rows left ``sending`` by a process whose lease expired (it died mid-send) end
        ``unconfirmed``, never sent again; rows it held but never tried go back to the
        queue. Returns the channels of the unconfirmed rows, one per row."""
        async with self._core_writing() as conn:
            await conn.execute(_EXPIRE_CLAIMED, {"w_now": now})
            result = await conn.execute(
                _EXPIRE_SENDING, {"w_now": now, "v_error": UNCONFIRMED_ERROR}
            )
            return [channel for (channel,) in result]

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
        *,
        release: bool = False,
    ) -> list[Outbound]:
        """Atomically mark the message answered and queue its replies (so a crash loses none);
        ``release`` gives the chat's lease up in the same transaction (the last message).

        Returns the rows it queued, in order (to send, and recorded handoff requests), so the
        caller need not re-read them.
        """
        values = [
            self.outbound_values(inbound.channel, inbound.chat_id, inbound.id, item)
            for item in outbound
        ]
        rows: list[Outbound] = []
        async with self._core_writing() as conn:
            answered = await conn.execute(
                _ANSWER_INBOUND,
                {"w_id": inbound.id, "v_status": status, "v_answered_at": utcnow()},
            )
            if answered.rowcount != 1:  # another process finished this turn first
                log.warning("store.turn_already_finished", extra={"channel": inbound.channel})
                return []
            await self.add_callbacks(conn, callbacks or {})
            if values:
                ids = await self._insert_outbound(conn, values)
                rows = [
                    _loaded(Outbound, {**row_values, "id": row_id})
                    for row_values, row_id in zip(values, ids, strict=True)
                ]
            if release:
                await conn.execute(
                    _RELEASE_CHAT, self._chat_owned(inbound.channel, inbound.chat_id)
                )
        self._callbacks_committed(callbacks or {})
        return rows

    async def _insert_outbound(
        self, conn: AsyncConnection, values: Sequence[Mapping[str, Any]]
    ) -> list[int]:
        """Insert the rows in one statement; their ids in the order of ``values``."""
        if self._dialect != "sqlite" or len(values) == 1:
            # PostgreSQL: SQLAlchemy's insertmanyvalues is one statement, ids in order
            result = await conn.execute(_INSERT_OUTBOUND, list(values))
            return [row_id for (row_id,) in result.all()]
        result = await conn.execute(_insert_outbound_rows(len(values)), _numbered(values))
        # SQLite gives the rows of one INSERT increasing rowids in VALUES order (max + 1,
        # under the write lock); RETURNING's own order is not promised, so sort.
        return sorted(row_id for (row_id,) in result.all())

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
            "priority": priority_of(item.kind),
            "lease_owner": None,
            "lease_until": None,
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
        self,
        inbound: Inbound,
        delay_s: float,
        error: str,
        notice: NewOutbound | None,
        *,
        status: str = InboundStatus.PENDING,
        release: bool = False,
    ) -> list[Outbound]:
        """Rasa failed: retry later (``at_rasa`` when Rasa may have it, so the retry asks
        its tracker first); queue the one "answer delayed" notice if given. The attempt was
        counted when the message went to Rasa."""
        async with self._write_lock, self._sessions() as session:
            values: dict[str, Any] = {
                "status": status,
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
            postponed = await session.execute(
                update(Inbound)
                .where(Inbound.id == inbound.id, Inbound.status.in_(_OPEN_TURN))
                .values(values)
                .execution_options(**NO_SYNC)
            )
            if cast(CursorResult[Any], postponed).rowcount != 1:
                await session.rollback()  # another process answered it meanwhile
                return []
            if release:
                await session.execute(
                    _RELEASE_CHAT, self._chat_owned(inbound.channel, inbound.chat_id)
                )
            await session.commit()
        return rows

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
