"""SQLAlchemy 2 models and engine set-up for the gateway's own tables.

Every table is prefixed ``gw_``: Rasa's tracker store (and its SQL event broker) own a table
named ``events``, and the gateway may share a PostgreSQL server with them.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, cast

import aiosqlite
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = [
    "Agent",
    "AgentRole",
    "Annotation",
    "AnnotationLabel",
    "AuditEntry",
    "Base",
    "CallbackPayload",
    "Chat",
    "ConsoleSession",
    "Handoff",
    "HandoffEvent",
    "HandoffStatus",
    "Inbound",
    "InboundStatus",
    "ModelEntry",
    "ModelStatus",
    "Organisation",
    "OrganisationKind",
    "Outbound",
    "OutboundStatus",
    "TrainingJob",
    "TrainingJobStatus",
    "create_engine",
    "utcnow",
]

SQLITE_BUSY_TIMEOUT_MS = 10_000
CHANNEL_LEN = 16
EXTERNAL_ID_LEN = 128
CHAT_ID_LEN = 64
STATUS_LEN = 16
KIND_LEN = 16
CALLBACK_KEY_LEN = 32
PLACE_CODE_LEN = 16
SLUG_LEN = 64
NAME_LEN = 200
ROLE_LEN = 32  # secretariat_reviewer; 0006 widened the column from 16
TOKEN_HASH_LEN = 64
LEASE_OWNER_LEN = 64
_PENDING_ONLY = "status = 'pending'"
_UNSENT_ONLY = "status IN ('pending', 'claimed', 'sending')"
_LEASED_ONLY = "lease_owner IS NOT NULL"


def utcnow() -> datetime:
    """Timezone-aware now, so SQLite and PostgreSQL rows compare alike."""
    return datetime.now(UTC)


class InboundStatus(StrEnum):
    """Life cycle of a citizen's message: pending until its replies are persisted."""

    PENDING = "pending"
    # committed before the call to Rasa: whoever finds it so (a process that died, a call
    # that timed out) asks Rasa's tracker before sending it again, never feeds it twice
    AT_RASA = "at_rasa"
    ANSWERED = "answered"
    NO_REPLY = "no_reply"  # Rasa answered with an empty list: not a success
    TO_AGENT = "to_agent"  # the chat is with a person: logged and shown to them, not to Rasa
    HANDLED = "handled"  # answered by the gateway itself (e.g. a rating after a handoff)


class OutboundStatus(StrEnum):
    """Life cycle of one platform message."""

    PENDING = "pending"
    # held by one delivery worker (lease_owner, until lease_until) and not tried yet, e.g.
    # waiting for its pace slot: a process killed now leaves it to be sent by another
    CLAIMED = "claimed"
    SENDING = "sending"  # recorded just before the platform call, still under the lease
    SENT = "sent"
    # the process stopped during the send (its lease expired): not repeated, since a
    # repeated reply is worse than the rare one lost
    UNCONFIRMED = "unconfirmed"
    FAILED = "failed"
    BLOCKED = "blocked"
    RECORDED = "recorded"  # kept for operators (e.g. a handoff request), never sent
    ROUTED = "routed"  # a recorded handoff request whose handoff is open


class Base(DeclarativeBase):
    """Declarative base of the gateway's own metadata (never shared with Rasa's)."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


class Chat(Base):
    """One conversation on one channel: language and whether we may still write to it."""

    __tablename__ = "gw_chats"
    __table_args__ = (
        UniqueConstraint("channel", "chat_id", name="uq_gw_chats_channel_chat"),
        # a process renews all its leases in one statement
        Index(
            "ix_gw_chats_leased",
            "lease_owner",
            postgresql_where=text(_LEASED_ONLY),
            sqlite_where=text(_LEASED_ONLY),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(CHANNEL_LEN))
    chat_id: Mapped[str] = mapped_column(String(CHAT_ID_LEN))
    language: Mapped[str] = mapped_column(String(8), default="km")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    in_handoff: Mapped[bool] = mapped_column(Boolean, default=False)
    # Rasa could not be told to resume when a handoff closed: tell it before the next message
    resume_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    place_code: Mapped[str | None] = mapped_column(String(PLACE_CODE_LEN), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the feedback form's last question in this chat (bot.cases); NULL = no form open
    case_step: Mapped[str | None] = mapped_column(String(16), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    # the one gateway process answering this chat now (several may share the database)
    lease_owner: Mapped[str | None] = mapped_column(String(LEASE_OWNER_LEN), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)  # epoch seconds


class Inbound(Base):
    """A citizen's message, persisted before the platform gets its 2xx."""

    __tablename__ = "gw_inbound"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_gw_inbound_channel_external"),
        Index("ix_gw_inbound_status_due", "status", "due_at"),
        Index("ix_gw_inbound_chat", "channel", "chat_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(CHANNEL_LEN))
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LEN))
    chat_id: Mapped[str] = mapped_column(String(CHAT_ID_LEN))
    kind: Mapped[str] = mapped_column(String(KIND_LEN))
    text: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(STATUS_LEN), default=InboundStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[float] = mapped_column(Float, default=0.0)  # epoch seconds
    notice_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Outbound(Base):
    """One platform message (already rendered for its channel) and its delivery status."""

    __tablename__ = "gw_outbound"
    __table_args__ = (
        Index("ix_gw_outbound_status_due", "status", "due_at"),
        Index("ix_gw_outbound_chat", "channel", "chat_id", "id"),
        # the delivery claim: pending rows by priority, and "no earlier unsent row of the
        # chat" answered from the few unsent rows, not from the chat's whole history
        Index(
            "ix_gw_outbound_queue",
            "priority",
            "id",
            postgresql_where=text(_PENDING_ONLY),
            sqlite_where=text(_PENDING_ONLY),
        ),
        Index(
            "ix_gw_outbound_unsent",
            "channel",
            "chat_id",
            "id",
            postgresql_where=text(_UNSENT_ONLY),
            sqlite_where=text(_UNSENT_ONLY),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    inbound_id: Mapped[int | None] = mapped_column(
        ForeignKey("gw_inbound.id", ondelete="SET NULL"), nullable=True
    )
    channel: Mapped[str] = mapped_column(String(CHANNEL_LEN))
    chat_id: Mapped[str] = mapped_column(String(CHAT_ID_LEN))
    kind: Mapped[str] = mapped_column(String(KIND_LEN))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(STATUS_LEN), default=OutboundStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(EXTERNAL_ID_LEN), nullable=True)
    agent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # a person wrote it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # lower goes first
    lease_owner: Mapped[str | None] = mapped_column(String(LEASE_OWNER_LEN), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)  # epoch seconds


class CallbackPayload(Base):
    """Short Telegram callback_data key (<= 64 bytes) -> the Rasa payload it stands for."""

    __tablename__ = "gw_callback_payloads"

    key: Mapped[str] = mapped_column(String(CALLBACK_KEY_LEN), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)


class HandoffStatus:
    """Life cycle of a conversation handed to a person."""

    QUEUED = "queued"  # waiting in an organisation's queue
    CLAIMED = "claimed"  # an agent is answering
    CLOSED = "closed"  # handed back to the assistant


class AgentRole(StrEnum):
    """What a console user may do. The first three values are the ones stored since the
    handoff console (CSO agents answer, CSO supervisors also watch and transfer within their
    organisation, administrators see everything and administer); ministry editors and
    secretariat reviewers are for the knowledge base and dissemination features."""

    AGENT = "agent"  # a CSO agent
    SUPERVISOR = "supervisor"  # a CSO supervisor
    ADMIN = "admin"  # an administrator
    MINISTRY_EDITOR = "ministry_editor"
    SECRETARIAT_REVIEWER = "secretariat_reviewer"


class OrganisationKind(StrEnum):
    """Who an organisation is: a ministry, the secretariat, a civil-society organisation,
    or the national pool that takes what no local organisation can."""

    MINISTRY = "ministry"
    SECRETARIAT = "secretariat"
    CSO = "cso"
    NATIONAL_POOL = "national_pool"


class Organisation(Base):
    """An organisation with console users: a ministry, the secretariat, a civil-society
    organisation that answers citizens, or the national pool (``kind``).

    ``areas`` holds gazetteer codes (province "12", district "1201", ...): an empty list
    covers the whole country. ``topics`` empty means every topic. ``office_hours`` maps a
    weekday ("mon".."sun") to "HH:MM-HH:MM" ranges in Asia/Phnom_Penh; empty means always.
    """

    __tablename__ = "gw_organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(SLUG_LEN), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    office_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sla_minutes: Mapped[int] = mapped_column(Integer, default=30)
    national_pool: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(ROLE_LEN), default=OrganisationKind.CSO)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Agent(Base):
    """A console user; the password is stored only as a salted scrypt hash."""

    __tablename__ = "gw_agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("gw_organisations.id"))
    username: Mapped[str] = mapped_column(String(SLUG_LEN), unique=True)
    display_name: Mapped[str] = mapped_column(String(NAME_LEN))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(ROLE_LEN), default=AgentRole.AGENT)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Handoff(Base):
    """One stretch of a conversation handled by a person, from request to close."""

    __tablename__ = "gw_handoffs"
    __table_args__ = (
        Index("ix_gw_handoffs_queue", "status", "organisation_id", "priority"),
        Index("ix_gw_handoffs_chat", "channel", "chat_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(CHANNEL_LEN))
    chat_id: Mapped[str] = mapped_column(String(CHAT_ID_LEN))
    status: Mapped[str] = mapped_column(String(STATUS_LEN), default=HandoffStatus.QUEUED)
    reason: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str] = mapped_column(String(8), default="km")
    topic: Mapped[str | None] = mapped_column(String(64), nullable=True)
    place_code: Mapped[str | None] = mapped_column(String(PLACE_CODE_LEN), nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    organisation_id: Mapped[int] = mapped_column(ForeignKey("gw_organisations.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("gw_agents.id"), nullable=True)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class HandoffEvent(Base):
    """What happened to a handoff and who did it: routed, claimed, note, transfer, close..."""

    __tablename__ = "gw_handoff_events"
    __table_args__ = (Index("ix_gw_handoff_events_handoff", "handoff_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("gw_handoffs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(KIND_LEN))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("gw_agents.id"), nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConsoleSession(Base):
    """A logged-in console browser; only the SHA-256 of the cookie value is stored."""

    __tablename__ = "gw_console_sessions"

    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LEN), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("gw_agents.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(TOKEN_HASH_LEN))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AnnotationLabel:
    """What an admin said a citizen's message is (issue #5, the review queue)."""

    INTENT = "intent"  # an existing or a new intent: exported as a training example
    OUT_OF_SCOPE = "out_of_scope"  # exported as an example of Rasa's out_of_scope intent
    SPAM = "spam"  # kept out of the queue, never trained on
    ALL = (INTENT, OUT_OF_SCOPE, SPAM)


class TrainingJobStatus:
    """Life cycle of a retraining: queued, running, then one final state."""

    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"  # the candidate passed the gate and may be activated
    REJECTED = "rejected"  # the gate stopped the candidate; the live model stays
    FAILED = "failed"  # validation, training or evaluation failed (see error)
    CANCELLED = "cancelled"
    ACTIVE = (QUEUED, RUNNING)


class ModelStatus:
    """A trained model in the registry."""

    CANDIDATE = "candidate"  # passed the gate, not (yet) live
    ACTIVE = "active"  # loaded by every Rasa instance
    RETIRED = "retired"  # was live before
    REJECTED = "rejected"  # stopped by the gate, kept for the record


class Annotation(Base):
    """An admin's label for one normalised message text, exported into data/nlu/learned.yml."""

    __tablename__ = "gw_annotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LEN), unique=True)  # of normalised
    normalised: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)  # the example as trained on, personal data masked
    label: Mapped[str] = mapped_column(String(STATUS_LEN))
    intent: Mapped[str | None] = mapped_column(String(SLUG_LEN), nullable=True)
    annotator: Mapped[str] = mapped_column(String(SLUG_LEN))
    exported: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class TrainingJob(Base):
    """One retraining: export, validate, train, evaluate, gate; progress visible while it runs."""

    __tablename__ = "gw_training_jobs"
    __table_args__ = (Index("ix_gw_training_jobs_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(STATUS_LEN), default=TrainingJobStatus.QUEUED)
    stage: Mapped[str] = mapped_column(String(STATUS_LEN), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent
    log_tail: Mapped[str] = mapped_column(Text, default="")
    candidate_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    model_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(SLUG_LEN))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ModelEntry(Base):
    """A trained model file in the registry, with its evaluation and who activated it."""

    __tablename__ = "gw_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(TOKEN_HASH_LEN), index=True)
    status: Mapped[str] = mapped_column(String(STATUS_LEN), default=ModelStatus.CANDIDATE)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    activated_by: Mapped[str | None] = mapped_column(String(SLUG_LEN), nullable=True)


class AuditEntry(Base):
    """Who annotated, trained, activated or rolled back what, and when (append only)."""

    __tablename__ = "gw_audit_log"
    __table_args__ = (Index("ix_gw_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(SLUG_LEN))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """WAL lets the web handlers read while the worker writes; busy_timeout absorbs contention."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _run_statement(
    conn: sqlite3.Connection, operation: Any, parameters: Any
) -> tuple[Any, list[Any], int | None, int, bool]:
    """One statement, in aiosqlite's thread: execute, fetch, close at once; and whether a
    transaction is now open."""
    cursor = conn.cursor()
    try:
        cursor.execute(operation, () if parameters is None else parameters)
        if cursor.description:
            return cursor.description, cursor.fetchall(), -1, -1, conn.in_transaction
        return None, [], cursor.lastrowid, cursor.rowcount, conn.in_transaction
    finally:
        cursor.close()


def _run_many(conn: sqlite3.Connection, operation: Any, rows: Any) -> tuple[int | None, int, bool]:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, rows)
        return cursor.lastrowid, cursor.rowcount, conn.in_transaction
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor makes four trips to aiosqlite's thread per statement
    (cursor, execute, fetchall, close), each waiting for a turn of the event loop; this one
    makes one. Under load that is most of a short transaction's time, and on SQLite every
    writer waits for the one in its transaction."""

    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        adapted = cast(_OneTripConnection, self._adapt_connection)
        adapted.in_transaction = True  # unknown until the statement tells
        try:
            connection = self._connection
            description, rows, lastrowid, rowcount, adapted.in_transaction = self.await_(
                connection._execute(_run_statement, connection._conn, operation, parameters)
            )
            self.description = description
            self._rows = deque(rows)
            self.lastrowid, self.rowcount = lastrowid, rowcount
        except Exception as error:
            adapted._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        adapted = cast(_OneTripConnection, self._adapt_connection)
        adapted.in_transaction = True
        try:
            connection = self._connection
            self.lastrowid, self.rowcount, adapted.in_transaction = self.await_(
                connection._execute(_run_many, connection._conn, operation, seq_of_parameters)
            )
            self.description = None
        except Exception as error:
            adapted._handle_exception(error)


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Also skips the trip for a ROLLBACK when SQLite has no transaction open: every read
    ends with one (SQLAlchemy closes its implicit transaction), and a SELECT opens none."""

    __slots__ = ("in_transaction",)

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.in_transaction = True  # until a statement says otherwise

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        if server_side:
            self.in_transaction = True  # its statements do not report back
            return super().cursor(server_side=True)
        return _OneTripCursor(self)

    def execute(self, *args: Any, **kw: Any) -> Any:
        self.in_transaction = True
        return super().execute(*args, **kw)

    def rollback(self) -> None:
        if self.in_transaction:  # else SQLite's rollback would do nothing
            super().rollback()
            self.in_transaction = False

    def commit(self) -> None:
        super().commit()
        self.in_transaction = False


class _OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        if not isinstance(adapted, AsyncAdapt_aiosqlite_connection) or not hasattr(
            adapted._connection, "_execute"
        ):
            return adapted  # an aiosqlite without _execute: SQLAlchemy's own cursor
        return _OneTripConnection(self, adapted._connection)


def create_engine(url: str) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """Engine + session factory; SQLite gets WAL and its parent directory is created."""
    options: dict[str, Any] = {
        "pool_pre_ping": not url.startswith("sqlite"),
        # Sessions and connections end their own transactions (commit, or rollback on
        # close), so the pool's extra ROLLBACK on every check-in is a wasted round trip:
        # a thread hop on aiosqlite, a network one on PostgreSQL, per transaction.
        "pool_reset_on_return": None,
    }
    if url.startswith("sqlite+aiosqlite:"):
        options["module"] = _OneTripDBAPI(aiosqlite, sqlite3)
    engine = create_async_engine(url, **options)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine, async_sessionmaker(engine, expire_on_commit=False)
