"""covering indexes for the SLA report: lead assignments by dispatch and by 签收, late answers, cases returned twice or more

Revision ID: reports14b_01
Revises: dash14_01
Create Date: 2026-12-01 23:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "reports14b_01"
down_revision = "dash14_01"
branch_labels = None
depends_on = None

LEAD = "role = 'lead'"
ANSWERED_LATE = "answered_at > due_at AND status <> 'merged'"
PING_PONG = "return_count >= 2"


def upgrade():
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assignments_report_lead_assigned",
            ["assigned_at", "unit_id", "case_id", "id"],
            unique=False,
            postgresql_where=sa.text(LEAD),
            sqlite_where=sa.text(LEAD),
        )
        batch_op.create_index(
            "ix_assignments_report_lead_acknowledged",
            ["acknowledged_at", "unit_id", "assigned_at", "case_id", "id"],
            unique=False,
            postgresql_where=sa.text(LEAD),
            sqlite_where=sa.text(LEAD),
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_report_answered_late",
            ["answered_at", "due_at", "closed_at", "unit_id", "id"],
            unique=False,
            postgresql_where=sa.text(ANSWERED_LATE),
            sqlite_where=sa.text(ANSWERED_LATE),
        )
        batch_op.create_index(
            "ix_cases_report_ping_pong",
            ["id"],
            unique=False,
            postgresql_where=sa.text(PING_PONG),
            sqlite_where=sa.text(PING_PONG),
        )


def downgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_report_ping_pong")
        batch_op.drop_index("ix_cases_report_answered_late")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_assignments_report_lead_acknowledged")
        batch_op.drop_index("ix_assignments_report_lead_assigned")
