"""lint_words: administrators' wrong/sensitive words for the pre-publish lint

Revision ID: lint13_01
Revises: scope_01
Create Date: 2026-12-01 19:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "lint13_01"
down_revision = "scope_01"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "lint_words",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("suggestion", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_lint_words_updated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lint_words")),
        sa.UniqueConstraint("word", name=op.f("uq_lint_words_word")),
    )


def downgrade():
    op.drop_table("lint_words")
