"""shared near-duplicate index (MinHash signatures and LSH band keys of recent cases)

Revision ID: perf_01
Revises: accounts_01
Create Date: 2026-12-01 15:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'perf_01'
down_revision = "accounts_01"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('neardup_signatures',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('scheme', sa.String(length=40), nullable=False),
    sa.Column('signature', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_neardup_signatures_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_neardup_signatures'))
    )
    with op.batch_alter_table('neardup_signatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_neardup_signatures_created_at'), ['created_at'], unique=False)

    op.create_table('neardup_bands',
    sa.Column('key', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_neardup_bands_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key', 'case_id', name=op.f('pk_neardup_bands'))
    )
    with op.batch_alter_table('neardup_bands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_neardup_bands_case_id'), ['case_id'], unique=False)
    # Existing recent cases are indexed by the periodic neardup_maintain job (backfill).


def downgrade():
    with op.batch_alter_table('neardup_bands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_neardup_bands_case_id'))
    op.drop_table('neardup_bands')
    with op.batch_alter_table('neardup_signatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_neardup_signatures_created_at'))
    op.drop_table('neardup_signatures')
