"""dissemination: subscribers, broadcasts, their recipients, and bulk outbound rows

A subscriber is one chat (or address) with topics, an area code and a language; a
broadcast (announcement or alert) is planned into one recipient row per subscriber,
UNIQUE(broadcast, subscriber) being the idempotency key, and one gw_outbound row per
recipient. Bulk outbound rows wait as ``queued`` (never seen by the conversation claim)
and are claimed in batches by their own partial index; expired rows are never claimed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

QUEUED_ONLY = "status = 'queued'"
BULK_HELD = "status = 'sending' AND broadcast_id IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "gw_subscribers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("area_code", sa.String(16), nullable=True),
        sa.Column("language", sa.String(8), nullable=False, server_default="km"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("last_inbound_at", sa.Float(), nullable=True),  # Messenger's 24 hours
        sa.Column("notification_token", sa.String(256), nullable=True),
        sa.Column("token_expires_at", sa.Float(), nullable=True),
        sa.Column("state", sa.String(32), nullable=True),  # the chat's subscription dialogue
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("channel", "chat_id", name="uq_gw_subscribers_chat"),
    )
    op.create_table(
        "gw_broadcasts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title_km", sa.Text(), nullable=False, server_default=""),
        sa.Column("title_en", sa.Text(), nullable=False, server_default=""),
        sa.Column("text_km", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("area_codes", sa.JSON(), nullable=False),  # [] = the whole country
        sa.Column("languages", sa.JSON(), nullable=False),  # [] = every language
        sa.Column("channels", sa.JSON(), nullable=False),  # [] = every channel
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author_org_kind", sa.String(32), nullable=True),
        sa.Column("approver_id", sa.Integer(), nullable=True),
        sa.Column("utility_template", sa.String(128), nullable=True),
        sa.Column("scheduled_at", sa.Float(), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("cap_identifier", sa.String(256), nullable=True, unique=True),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("urgency", sa.String(16), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="50"),
        sa.Column("plan_cursor", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("plan_owner", sa.String(64), nullable=True),
        sa.Column("plan_until", sa.Float(), nullable=True),
        sa.Column("planned_at", sa.Float(), nullable=True),
        sa.Column("approved_at", sa.Float(), nullable=True),
        sa.Column("published_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_gw_broadcasts_status", "gw_broadcasts", ["status"])
    op.create_table(
        "gw_broadcast_recipients",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("area_code", sa.String(16), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),  # planned | skipped
        sa.Column("reason", sa.String(64), nullable=True),
        sa.UniqueConstraint("broadcast_id", "subscriber_id", name="uq_gw_recipients_once"),
    )
    op.add_column("gw_outbound", sa.Column("broadcast_id", sa.Integer(), nullable=True))
    op.add_column("gw_outbound", sa.Column("recipient_id", sa.BigInteger(), nullable=True))
    op.add_column("gw_outbound", sa.Column("expires_at", sa.Float(), nullable=True))
    op.create_index(
        "ix_gw_outbound_bulk_queue",
        "gw_outbound",
        ["priority", "id"],
        postgresql_where=sa.text(QUEUED_ONLY),
        sqlite_where=sa.text(QUEUED_ONLY),
    )
    op.create_index(
        "ix_gw_outbound_bulk_held",
        "gw_outbound",
        ["lease_until"],
        postgresql_where=sa.text(BULK_HELD),
        sqlite_where=sa.text(BULK_HELD),
    )
    op.create_index("ix_gw_outbound_broadcast", "gw_outbound", ["broadcast_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_gw_outbound_broadcast", table_name="gw_outbound")
    op.drop_index("ix_gw_outbound_bulk_held", table_name="gw_outbound")
    op.drop_index("ix_gw_outbound_bulk_queue", table_name="gw_outbound")
    op.drop_column("gw_outbound", "expires_at")
    op.drop_column("gw_outbound", "recipient_id")
    op.drop_column("gw_outbound", "broadcast_id")
    op.drop_table("gw_broadcast_recipients")
    op.drop_index("ix_gw_broadcasts_status", table_name="gw_broadcasts")
    op.drop_table("gw_broadcasts")
    op.drop_table("gw_subscribers")
