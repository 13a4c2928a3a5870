"""covering indexes for the dashboards' aggregates; open cases by due time (overdue)

Revision ID: dash14_01
Revises: consult12_01
Create Date: 2026-12-01 19:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "dash14_01"
down_revision = "consult12_01"
branch_labels = None
depends_on = None

OPEN_NOT_MERGED = "answered_at IS NULL AND closed_at IS NULL AND status <> 'merged'"


def upgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_dash_arrivals",
            ["first_item_at", "status", "topic", "sentiment", "unit_id", "owner_unit_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_cases_open_due",
            ["due_at", "unit_id", "id"],
            unique=False,
            postgresql_where=sa.text(OPEN_NOT_MERGED),
            sqlite_where=sa.text(OPEN_NOT_MERGED),
        )
        batch_op.create_index(
            "ix_cases_dash_closed",
            ["closed_at", "answered_at", "due_at", "unit_id", "status", "id"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_dash_closed")
        batch_op.drop_index("ix_cases_open_due")
        batch_op.drop_index("ix_cases_dash_arrivals")
