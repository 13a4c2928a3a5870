"""no silent merges: attach records on items, possible-duplicate links on cases

Revision ID: merges_01
Revises: verbatim_01
Create Date: 2026-12-01 15:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "merges_01"
down_revision = "verbatim_01"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auto_attached", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("duplicate_of_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("duplicate_similarity", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("duplicate_reason", sa.String(length=20), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_duplicate_of_id_cases"), "cases", ["duplicate_of_id"], ["id"]
        )
        batch_op.create_index(
            batch_op.f("ix_cases_duplicate_of_id"), ["duplicate_of_id"], unique=False
        )

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attach_kind", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("attached_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attach_similarity", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "attach_decided_at",
                sa.DateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("attach_decided_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("detached_from_case_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_items_attach_decided_by_id_users"),
            "users",
            ["attach_decided_by_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_items_detached_from_case_id_cases"),
            "cases",
            ["detached_from_case_id"],
            ["id"],
        )

    # Items that joined a case with the same text before this revision were attached at
    # ingest as identical texts. Other joined items (merged cases) stay unlabelled: whether
    # a person or the near-duplicate pass merged them is not known.
    op.execute(
        "UPDATE items SET attach_kind = 'exact', attach_similarity = 1.0 "
        "WHERE is_duplicate AND attach_kind IS NULL AND text_hash = "
        "(SELECT cases.text_hash FROM cases WHERE cases.id = items.case_id)"
    )
    op.execute(
        "UPDATE cases SET auto_attached = (SELECT COUNT(*) FROM items "
        "WHERE items.case_id = cases.id AND items.attach_kind = 'exact')"
    )


def downgrade():
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_items_detached_from_case_id_cases"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_items_attach_decided_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("detached_from_case_id")
        batch_op.drop_column("attach_decided_by_id")
        batch_op.drop_column("attach_decided_at")
        batch_op.drop_column("attach_similarity")
        batch_op.drop_column("attached_at")
        batch_op.drop_column("attach_kind")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_duplicate_of_id"))
        batch_op.drop_constraint(batch_op.f("fk_cases_duplicate_of_id_cases"), type_="foreignkey")
        batch_op.drop_column("duplicate_reason")
        batch_op.drop_column("duplicate_similarity")
        batch_op.drop_column("duplicate_of_id")
        batch_op.drop_column("auto_attached")
