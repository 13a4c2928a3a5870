"""report_archives; assignments.finished_at; indexes for the SLA report

Revision ID: reports14_01
Revises: scope_01
Create Date: 2026-12-01 19:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'reports14_01'
down_revision = "scope_01"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'report_archives',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('fmt', sa.String(length=10), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('period_end', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('progress', sa.Integer(), nullable=False),
        sa.Column('scheduled', sa.Boolean(), nullable=False),
        sa.Column('job_run_id', sa.Integer(), nullable=True),
        sa.Column('generated_by_id', sa.Integer(), nullable=True),
        sa.Column('generated_by_label', sa.String(length=80), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('generated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('file_path', sa.String(length=255), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('size', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['generated_by_id'], ['users.id'], name=op.f('fk_report_archives_generated_by_id_users')),
        sa.ForeignKeyConstraint(['job_run_id'], ['job_runs.id'], name=op.f('fk_report_archives_job_run_id_job_runs')),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_report_archives_unit_id_units')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_archives')),
    )
    with op.batch_alter_table('report_archives', schema=None) as batch_op:
        batch_op.create_index('ix_report_archives_kind_period', ['kind', 'period_start'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_archives_unit_id'), ['unit_id'], unique=False)

    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_assignments_role_assigned', ['role', 'assigned_at'], unique=False)
        batch_op.create_index('ix_assignments_role_acknowledged', ['role', 'acknowledged_at'], unique=False)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(
            'ix_cases_report_answered',
            ['answered_at', 'unit_id', 'deadline_state', 'status', 'clock_started_at', 'id'],
            unique=False,
        )
        batch_op.create_index(
            'ix_cases_report_acknowledged',
            ['acknowledged_at', 'unit_id', 'response_due_at', 'status', 'id'],
            unique=False,
        )
        batch_op.create_index(
            'ix_cases_report_received',
            ['first_item_at', 'owner_unit_id', 'status', 'id'],
            unique=False,
        )
    with op.batch_alter_table('case_returns', schema=None) as batch_op:
        batch_op.create_index('ix_case_returns_returned_at', ['returned_at'], unique=False)
    with op.batch_alter_table('deadline_changes', schema=None) as batch_op:
        batch_op.create_index('ix_deadline_changes_decided', ['status', 'decided_at'], unique=False)


def downgrade():
    with op.batch_alter_table('deadline_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_deadline_changes_decided')
    with op.batch_alter_table('case_returns', schema=None) as batch_op:
        batch_op.drop_index('ix_case_returns_returned_at')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_report_received')
        batch_op.drop_index('ix_cases_report_acknowledged')
        batch_op.drop_index('ix_cases_report_answered')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_assignments_role_acknowledged')
        batch_op.drop_index('ix_assignments_role_assigned')
        batch_op.drop_column('finished_at')
    with op.batch_alter_table('report_archives', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_archives_unit_id'))
        batch_op.drop_index('ix_report_archives_kind_period')
    op.drop_table('report_archives')
