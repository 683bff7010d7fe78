"""The alerts' tables: CAP senders (their token and approval policy) and the alerts
received (migration 0010, which also makes bot/channels/_receipts.py's table)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..storage._db import Base, utcnow

__all__ = ["AlertSource", "AlertState", "CapAlertRow", "CapSender"]

ID_LEN = 255
CODE_LEN = 16
NAME_LEN = 200
HASH_LEN = 64


class AlertState(StrEnum):
    """Where an alert stands: sent on (active), replaced by an Update, stopped by a Cancel,
    past its expiry, or only recorded (a Test, Exercise, a Cancel message itself...)."""

    ACTIVE = "active"
    SUPERSEDED = "superseded"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    RECORDED = "recorded"


class AlertSource(StrEnum):
    """How the alert arrived."""

    REST = "rest"
    CLI = "cli"
    FEED = "feed"


class CapSender(Base):
    """A warning authority allowed to send alerts: its CAP ``<sender>``, the hash of its
    bearer token, and whether the secretariat must approve its alerts before they go out."""

    __tablename__ = "gw_cap_senders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cap_sender: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    token_hash: Mapped[str | None] = mapped_column(String(HASH_LEN), unique=True, nullable=True)
    require_approval: Mapped[bool] = mapped_column(Boolean, default=True)
    policy_by: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CapAlertRow(Base):
    """One valid CAP alert received (Alert, Update or Cancel), with what it means here."""

    __tablename__ = "gw_cap_alerts"
    __table_args__ = (Index("ix_gw_cap_alerts_state", "state", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    sender: Mapped[str] = mapped_column(String(ID_LEN))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(CODE_LEN))
    msg_type: Mapped[str] = mapped_column(String(CODE_LEN))
    scope: Mapped[str] = mapped_column(String(CODE_LEN))
    event: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(CODE_LEN), default="")
    urgency: Mapped[str] = mapped_column(String(CODE_LEN), default="")
    certainty: Mapped[str] = mapped_column(String(CODE_LEN), default="")
    headline_km: Mapped[str] = mapped_column(Text, default="")
    headline_en: Mapped[str] = mapped_column(Text, default="")
    text_km: Mapped[str] = mapped_column(Text, default="")
    text_en: Mapped[str] = mapped_column(Text, default="")
    area_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    area_desc: Mapped[str] = mapped_column(Text, default="")
    audio_uri: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # epoch seconds
    state: Mapped[str] = mapped_column(String(CODE_LEN), default=AlertState.ACTIVE)
    references: Mapped[str] = mapped_column(Text, default="")  # identifiers, space-separated
    superseded_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    require_approval: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(CODE_LEN))
    xml: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
