"""SQLAlchemy 2 models and engine set-up for the gateway's own tables.

Every table is prefixed ``gw_``: Rasa's tracker store (and its SQL event broker) own a table
named ``events``, and the gateway may share a PostgreSQL server with them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

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
    "Base",
    "CallbackPayload",
    "Chat",
    "Inbound",
    "InboundStatus",
    "Outbound",
    "OutboundStatus",
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


def utcnow() -> datetime:
    """Timezone-aware now, so SQLite and PostgreSQL rows compare alike."""
    return datetime.now(UTC)


class InboundStatus:
    """Life cycle of a citizen's message: pending until its replies are persisted."""

    PENDING = "pending"
    ANSWERED = "answered"
    NO_REPLY = "no_reply"  # Rasa answered with an empty list: not a success


class OutboundStatus:
    """Life cycle of one platform message."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    RECORDED = "recorded"  # kept for operators (e.g. a handoff request), never sent


class Base(DeclarativeBase):
    """Declarative base of the gateway's own metadata (never shared with Rasa's)."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


class Chat(Base):
    """One conversation on one channel: language and whether we may still write to it."""

    __tablename__ = "gw_chats"
    __table_args__ = (UniqueConstraint("channel", "chat_id", name="uq_gw_chats_channel_chat"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(CHANNEL_LEN))
    chat_id: Mapped[str] = mapped_column(String(CHAT_ID_LEN))
    language: Mapped[str] = mapped_column(String(8), default="km")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    in_handoff: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CallbackPayload(Base):
    """Short Telegram callback_data key (<= 64 bytes) -> the Rasa payload it stands for."""

    __tablename__ = "gw_callback_payloads"

    key: Mapped[str] = mapped_column(String(CALLBACK_KEY_LEN), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """WAL lets the web handlers read while the worker writes; busy_timeout absorbs contention."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """Engine + session factory; SQLite gets WAL and its parent directory is created."""
    engine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine, async_sessionmaker(engine, expire_on_commit=False)
