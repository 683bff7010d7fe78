"""case_stats: the dashboard's monthly summary of cases (issue #16)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BUCKETS = 13  # bot.dashboard._tables.BUCKET_COLUMNS: r00..r12


def upgrade() -> None:
    key = [
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("programme", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("topic", sa.String(32), primary_key=True),
        sa.Column("province_code", sa.String(2), primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
    ]
    counts = [
        sa.Column(name, sa.Integer(), nullable=False)
        for name in ("cases", "resolved", "within_target", *(f"r{i:02d}" for i in range(BUCKETS)))
    ]
    op.create_table("gw_case_monthly", *key, *counts)
    op.create_table(
        "gw_case_monthly_refresh",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gw_case_monthly_refresh")
    op.drop_table("gw_case_monthly")
