"""covering indexes for the dashboards' aggregates

Revision ID: dash14_01
Revises: reports14_01
Create Date: 2026-12-01 19:40:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "dash14_01"
down_revision = "reports14_01"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_dash_arrivals",
            ["first_item_at", "status", "topic", "sentiment", "unit_id", "owner_unit_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_cases_dash_answers",
            ["answered_at", "unit_id", "deadline_state", "status"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_dash_answers")
        batch_op.drop_index("ix_cases_dash_arrivals")
