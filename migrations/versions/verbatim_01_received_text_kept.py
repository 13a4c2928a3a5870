"""keep the received text: items.text_normalised, text_verbatim, posted_in_future;
import_batches.failure, heartbeat_at

Until now ``items.text`` held ``normalise(received text)``. From here on it holds the text
exactly as received and ``text_normalised`` the normalised form. The received text of
rows stored before this migration is gone: they get ``text_normalised = text`` and
``text_verbatim = false`` so every screen can say their text is the normalised form.

Revision ID: verbatim_01
Revises: honest_01
Create Date: 2026-12-01 15:40:00

"""

from alembic import op
import sqlalchemy as sa


revision = "verbatim_01"
down_revision = "honest_01"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text_normalised", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("text_verbatim", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("posted_in_future", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    # Pre-migration rows: the stored text is the normalised form (not what was received).
    op.execute("UPDATE items SET text_normalised = text")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.alter_column("text_normalised", existing_type=sa.Text(), nullable=False)
        # New rows always say explicitly whether their text is verbatim / dated ahead.
        batch_op.alter_column("text_verbatim", existing_type=sa.Boolean(), server_default=None)
        batch_op.alter_column("posted_in_future", existing_type=sa.Boolean(), server_default=None)


def downgrade():
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("failure")
    # The normalised form is what the old schema kept in ``text``.
    op.execute("UPDATE items SET text = text_normalised")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("posted_in_future")
        batch_op.drop_column("text_verbatim")
        batch_op.drop_column("text_normalised")
