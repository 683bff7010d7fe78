"""Tables and statuses of dissemination (Core tables; migrations 0008, 0012)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Column, Float, Integer, LargeBinary, String, Table, Text

from ..delivery._bulk import _META, BULK_OUTBOUND, SUBSCRIBERS, BulkStatus

__all__ = [
    "AUDIO",
    "BROADCASTS",
    "BULK_OUTBOUND",
    "RECIPIENTS",
    "SUBSCRIBERS",
    "BroadcastKind",
    "BroadcastStatus",
    "BulkStatus",
    "RecipientStatus",
    "SkipReason",
    "Topic",
]


class BroadcastKind(StrEnum):
    ANNOUNCEMENT = "announcement"
    ALERT = "alert"


class BroadcastStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    PLANNING = "planning"
    SENDING = "sending"
    DONE = "done"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Topic(StrEnum):
    EMERGENCY = "emergency"
    PAYMENTS = "payments"
    PROGRAMMES = "programmes"
    HEALTH = "health"


class RecipientStatus(StrEnum):
    PLANNED = "planned"  # an outbound row was queued for it
    SKIPPED = "skipped"  # not sent, for ``reason``


class SkipReason(StrEnum):
    MESSENGER_OUTSIDE_24H = "messenger_outside_24h"
    NO_SENDER = "channel_not_configured"


BROADCASTS = Table(
    "gw_broadcasts",
    _META,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16)),
    Column("title_km", Text),
    Column("title_en", Text),
    Column("text_km", Text),
    Column("text_en", Text),
    Column("topic", String(32)),
    Column("area_codes", JSON),
    Column("languages", JSON),
    Column("channels", JSON),
    Column("status", String(24)),
    Column("author_id", Integer),
    Column("author_org_kind", String(32)),
    Column("approver_id", Integer),
    Column("utility_template", String(128)),
    Column("scheduled_at", Float),
    Column("expires_at", Float),
    Column("cap_identifier", String(256)),
    Column("severity", String(16)),
    Column("urgency", String(16)),
    Column("priority", Integer),
    Column("plan_cursor", Integer),
    Column("plan_owner", String(64)),
    Column("plan_until", Float),
    Column("planned_at", Float),
    Column("approved_at", Float),
    Column("published_at", Float),
    Column("created_at", Float),
    Column("updated_at", Float),
)
RECIPIENTS = Table(
    "gw_broadcast_recipients",
    _META,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("broadcast_id", Integer),
    Column("subscriber_id", Integer),
    Column("channel", String(16)),
    Column("area_code", String(16)),
    Column("status", String(16)),
    Column("reason", String(64)),
)
AUDIO = Table(
    "gw_broadcast_audio",
    _META,
    Column("broadcast_id", Integer, primary_key=True),
    Column("language", String(8), primary_key=True),  # 'km', 'en' or '' (another language)
    Column("content_type", String(32)),
    Column("size", Integer),
    Column("sha256", String(64)),
    Column("data", LargeBinary),
    Column("created_at", Float),
)
