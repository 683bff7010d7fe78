"""broadcast_audio: an announcement's recordings (issue #15)

One recording per broadcast and language ('km', 'en', or '' for one in another language,
such as an indigenous language, played to everyone without a recording of their own), kept
in the database every gateway process shares (a file on one machine would not reach the
others): the bytes, their content type, size and SHA-256 (the public URL's ETag).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gw_broadcast_audio",
        sa.Column("broadcast_id", sa.Integer(), primary_key=True),
        sa.Column("language", sa.String(8), primary_key=True),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["gw_broadcasts.id"],
            name="fk_gw_broadcast_audio_broadcast",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("gw_broadcast_audio")
