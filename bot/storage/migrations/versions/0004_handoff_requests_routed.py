"""handoff requests recorded before the outbox are routed

Handoff requests are now recorded with the answer that asked for them and marked routed
when their handoff opens; the worker opens any still recorded at start. Rows recorded
before that carried no request and their handoffs were opened at the time: mark them
routed, so the worker never looks at them again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 03:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE gw_outbound SET status = 'routed' WHERE kind = 'handoff' AND status = 'recorded'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE gw_outbound SET status = 'recorded' WHERE kind = 'handoff' AND status = 'routed'"
    )
