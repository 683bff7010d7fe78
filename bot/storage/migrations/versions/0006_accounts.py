"""accounts: organisation kinds and room for the new roles

Organisations get a kind (ministry, secretariat, CSO, national pool): existing rows are
CSOs, except the national pool. Stored roles keep their values (agent, supervisor, admin);
the role column widens so ministry_editor and secretariat_reviewer fit (SQLite does not
enforce lengths, so only other databases need the change).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD_ROLE_LEN = 16
ROLE_LEN = 32


def upgrade() -> None:
    op.add_column(
        "gw_organisations",
        sa.Column("kind", sa.String(ROLE_LEN), nullable=False, server_default="cso"),
    )
    op.execute("UPDATE gw_organisations SET kind = 'national_pool' WHERE national_pool")
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "gw_agents",
            "role",
            type_=sa.String(ROLE_LEN),
            existing_type=sa.String(OLD_ROLE_LEN),
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute(
            "UPDATE gw_agents SET role = 'agent' "
            "WHERE role IN ('ministry_editor', 'secretariat_reviewer')"
        )
        op.alter_column(
            "gw_agents",
            "role",
            type_=sa.String(OLD_ROLE_LEN),
            existing_type=sa.String(ROLE_LEN),
        )
    with op.batch_alter_table("gw_organisations") as batch:
        batch.drop_column("kind")
