"""delivery engine: outbound priority and leases, chat leases

Every outbound row is sent by the delivery engine's workers, which claim rows with a lease
(several gateway processes may share the database); a chat is answered by one process at a
time, which holds a lease on it. Two partial indexes keep the claim cheap.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PENDING_ONLY = "status = 'pending'"
UNSENT_ONLY = "status IN ('pending', 'claimed', 'sending')"
LEASED_ONLY = "lease_owner IS NOT NULL"


def upgrade() -> None:
    op.add_column(
        "gw_outbound",
        sa.Column("priority", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column("gw_outbound", sa.Column("lease_owner", sa.String(length=64), nullable=True))
    op.add_column("gw_outbound", sa.Column("lease_until", sa.Float(), nullable=True))
    op.add_column("gw_chats", sa.Column("lease_owner", sa.String(length=64), nullable=True))
    op.add_column("gw_chats", sa.Column("lease_until", sa.Float(), nullable=True))
    op.create_index(
        "ix_gw_outbound_queue",
        "gw_outbound",
        ["priority", "id"],
        postgresql_where=sa.text(PENDING_ONLY),
        sqlite_where=sa.text(PENDING_ONLY),
    )
    op.create_index(
        "ix_gw_outbound_unsent",
        "gw_outbound",
        ["channel", "chat_id", "id"],
        postgresql_where=sa.text(UNSENT_ONLY),
        sqlite_where=sa.text(UNSENT_ONLY),
    )
    op.create_index(
        "ix_gw_chats_leased",
        "gw_chats",
        ["lease_owner"],
        postgresql_where=sa.text(LEASED_ONLY),
        sqlite_where=sa.text(LEASED_ONLY),
    )


def downgrade() -> None:
    op.drop_index("ix_gw_chats_leased", table_name="gw_chats")
    op.drop_index("ix_gw_outbound_unsent", table_name="gw_outbound")
    op.drop_index("ix_gw_outbound_queue", table_name="gw_outbound")
    op.drop_column("gw_chats", "lease_until")
    op.drop_column("gw_chats", "lease_owner")
    op.drop_column("gw_outbound", "lease_until")
    op.drop_column("gw_outbound", "lease_owner")
    op.drop_column("gw_outbound", "priority")
