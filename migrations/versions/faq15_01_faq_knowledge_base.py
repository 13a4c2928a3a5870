"""faq knowledge base

Revision ID: faq15_01
Revises: reports14_01
Create Date: 2026-12-01 19:00:52.428680

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "faq15_01"
down_revision = "reports14_01"
branch_labels = None
depends_on = None


def upgrade():

    op.create_table(
        "faq_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("topic", sa.String(length=60), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("visibility", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("review_by", sa.Date(), nullable=True),
        sa.Column("external_ref", sa.String(length=64), nullable=True),
        sa.Column("updates_id", sa.Integer(), nullable=True),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.Column("search_terms", sa.Text(), nullable=True),
        sa.Column("use_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by_id"], ["users.id"], name=op.f("fk_faq_entries_approved_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_faq_entries_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_faq_entries_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["updates_id"], ["faq_entries.id"], name=op.f("fk_faq_entries_updates_id_faq_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_entries")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_faq_entries_external_ref")),
    )
    with op.batch_alter_table("faq_entries", schema=None) as batch_op:
        batch_op.create_index("ix_faq_entries_review_by", ["review_by"], unique=False)
        batch_op.create_index(
            "ix_faq_entries_status_visibility", ["status", "visibility"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_faq_entries_topic"), ["topic"], unique=False)
        batch_op.create_index(batch_op.f("ix_faq_entries_unit_id"), ["unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_faq_entries_updates_id"), ["updates_id"], unique=False)

    op.create_table(
        "faq_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("topic", sa.String(length=60), nullable=True),
        sa.Column("visibility", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("change", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_faq_versions_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["faq_entries.id"], name=op.f("fk_faq_versions_entry_id_faq_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_versions")),
    )
    with op.batch_alter_table("faq_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_faq_versions_entry_id"), ["entry_id"], unique=False)

    op.create_table(
        "faq_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_faq_uses_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["faq_entries.id"], name=op.f("fk_faq_uses_entry_id_faq_entries")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_faq_uses_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_uses")),
    )
    with op.batch_alter_table("faq_uses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_faq_uses_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_faq_uses_entry_id"), ["entry_id"], unique=False)

    op.create_table(
        "faq_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("reply_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_faq_sources_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["faq_entries.id"], name=op.f("fk_faq_sources_entry_id_faq_entries")
        ),
        sa.ForeignKeyConstraint(
            ["reply_id"], ["replies.id"], name=op.f("fk_faq_sources_reply_id_replies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_sources")),
        sa.UniqueConstraint("entry_id", "case_id", name=op.f("uq_faq_sources_entry_id_case_id")),
    )
    with op.batch_alter_table("faq_sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_faq_sources_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_faq_sources_entry_id"), ["entry_id"], unique=False)


def downgrade():

    with op.batch_alter_table("faq_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_faq_sources_entry_id"))
        batch_op.drop_index(batch_op.f("ix_faq_sources_case_id"))

    op.drop_table("faq_sources")
    with op.batch_alter_table("faq_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_faq_uses_entry_id"))
        batch_op.drop_index(batch_op.f("ix_faq_uses_case_id"))

    op.drop_table("faq_uses")
    with op.batch_alter_table("faq_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_faq_versions_entry_id"))

    op.drop_table("faq_versions")
    with op.batch_alter_table("faq_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_faq_entries_updates_id"))
        batch_op.drop_index(batch_op.f("ix_faq_entries_unit_id"))
        batch_op.drop_index(batch_op.f("ix_faq_entries_topic"))
        batch_op.drop_index("ix_faq_entries_status_visibility")
        batch_op.drop_index("ix_faq_entries_review_by")

    op.drop_table("faq_entries")
