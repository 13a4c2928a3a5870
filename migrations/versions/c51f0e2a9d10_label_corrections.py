"""label corrections

Revision ID: c51f0e2a9d10
Revises: 24a9d8a9be4f
Create Date: 2026-11-25 13:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "c51f0e2a9d10"
down_revision = "24a9d8a9be4f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "label_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.Column("old_value", sa.String(length=60), nullable=True),
        sa.Column("new_value", sa.String(length=60), nullable=False),
        sa.Column("model_version", sa.String(length=40), nullable=True),
        sa.Column("corrected_by_id", sa.Integer(), nullable=True),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_label_corrections_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["corrected_by_id"],
            ["users.id"],
            name=op.f("fk_label_corrections_corrected_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_label_corrections_item_id_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_corrections")),
    )
    with op.batch_alter_table("label_corrections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_label_corrections_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_label_corrections_item_id"), ["item_id"], unique=False)


def downgrade():
    with op.batch_alter_table("label_corrections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_label_corrections_item_id"))
        batch_op.drop_index(batch_op.f("ix_label_corrections_case_id"))
    op.drop_table("label_corrections")
