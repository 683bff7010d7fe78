"""cases: citizens' feedback and grievances with their audit log (issue #16)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "gw_cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(12), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("programme", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=True),
        sa.Column("district_code", sa.String(4), nullable=True),
        sa.Column("commune_code", sa.String(6), nullable=True),
        sa.Column("chat_id", sa.Integer(), sa.ForeignKey("gw_chats.id"), nullable=True),
        sa.Column(
            "organisation_id", sa.Integer(), sa.ForeignKey("gw_organisations.id"), nullable=True
        ),
        sa.Column("assignee_id", sa.Integer(), sa.ForeignKey("gw_agents.id"), nullable=True),
        sa.Column("filed_by_id", sa.Integer(), sa.ForeignKey("gw_agents.id"), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("audio_ref", sa.String(255), nullable=True),
        sa.Column("resolved_confirmed", sa.Boolean(), nullable=True),
        _at("created_at", nullable=False),
        _at("updated_at", nullable=False),
        _at("due_at"),
        _at("resolved_at"),
        _at("closed_at"),
        sa.Column(
            "referred_org_id", sa.Integer(), sa.ForeignKey("gw_organisations.id"), nullable=True
        ),
        _at("followed_up_at"),
    )
    op.create_index("ix_gw_cases_status_org", "gw_cases", ["status", "organisation_id"])
    op.create_index("ix_gw_cases_created_at", "gw_cases", ["created_at"])
    op.create_index("ix_gw_cases_due_at", "gw_cases", ["due_at"])
    op.create_table(
        "gw_case_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id",
            sa.Integer(),
            sa.ForeignKey("gw_cases.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("gw_agents.id"), nullable=True),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        _at("created_at", nullable=False),
    )
    op.create_index("ix_gw_case_events_case", "gw_case_events", ["case_id", "id"])
    # the feedback form in chat: which question was asked last, and the answers so far
    with op.batch_alter_table("gw_chats") as batch:
        batch.add_column(sa.Column("case_step", sa.String(16), nullable=True))
    op.create_table(
        "gw_case_drafts",
        sa.Column(
            "chat_id",
            sa.Integer(),
            sa.ForeignKey("gw_chats.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("data", sa.JSON(), nullable=False),
        _at("updated_at", nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gw_case_drafts")
    with op.batch_alter_table("gw_chats") as batch:
        batch.drop_column("case_step")
    op.drop_table("gw_case_events")
    op.drop_table("gw_cases")
