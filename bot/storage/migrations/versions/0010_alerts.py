"""alerts: CAP senders and alerts, delivery receipts of SMS and voice

Warning authorities send CAP 1.2 alerts with their own bearer token; the secretariat sets
per sender whether its alerts need approval. Each valid alert is kept with its original XML
(the public CAP feed serves it) and what it means here (area codes, expiry, state). SMS and
voice platforms call back with a message's status: one receipt row per callback.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "gw_cap_senders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cap_sender", sa.String(255), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("require_approval", sa.Boolean(), nullable=False),
        sa.Column("policy_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "gw_cap_alerts",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("identifier", sa.String(255), nullable=False, unique=True),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("msg_type", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("certainty", sa.String(16), nullable=False),
        sa.Column("headline_km", sa.Text(), nullable=False),
        sa.Column("headline_en", sa.Text(), nullable=False),
        sa.Column("text_km", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("area_codes", sa.JSON(), nullable=False),
        sa.Column("area_desc", sa.Text(), nullable=False),
        sa.Column("audio_uri", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("references", sa.Text(), nullable=False),
        sa.Column("superseded_by", sa.String(255), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=False),
        sa.Column("require_approval", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_gw_cap_alerts_state", "gw_cap_alerts", ["state", "id"])
    op.create_table(
        "gw_delivery_receipts",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(32), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_gw_delivery_receipts_message", "gw_delivery_receipts", ["channel", "external_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_gw_delivery_receipts_message", table_name="gw_delivery_receipts")
    op.drop_table("gw_delivery_receipts")
    op.drop_index("ix_gw_cap_alerts_state", table_name="gw_cap_alerts")
    op.drop_table("gw_cap_alerts")
    op.drop_table("gw_cap_senders")
