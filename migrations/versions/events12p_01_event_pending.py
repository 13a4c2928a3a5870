"""event_pending: classified items waiting for the clustering job (one job places them all)

Revision ID: events12p_01
Revises: reports14b_01
Create Date: 2026-12-01 23:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "events12p_01"
down_revision = "reports14b_01"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "event_pending",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("bulk", sa.Boolean(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_index("ix_event_pending_order", "event_pending", ["bulk", "item_id"])


def downgrade():
    op.drop_table("event_pending")
