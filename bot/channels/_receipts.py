"""Delivery receipts: a platform's status callback for a sent message or call (Somleng's
SMS and voice), one row per callback; table gw_delivery_receipts (migration 0010)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..storage._db import Base, utcnow

__all__ = ["DeliveryReceipt"]


class DeliveryReceipt(Base):
    """A platform's status for a sent message (no phone number, no text)."""

    __tablename__ = "gw_delivery_receipts"
    __table_args__ = (Index("ix_gw_delivery_receipts_message", "channel", "external_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str] = mapped_column(String(32), default="")
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
