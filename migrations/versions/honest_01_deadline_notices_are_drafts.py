"""deadline-change notices were never sent: mark them drafts awaiting review

Until now an approved 延期/暂停 stored its notice to the asker with status "sent",
although nothing was sent anywhere. Those rows become drafts, so the case page shows
them as awaiting review (their text may quote the unit's internal reason: editable
before review). Data only; the schema does not change.

Revision ID: honest_01
Revises: ed925f7bf81d
Create Date: 2026-12-01 15:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'honest_01'
down_revision = 'ed925f7bf81d'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE replies SET status = 'draft' WHERE kind = 'notice' AND status = 'sent'")


def downgrade():
    # Not reversed: marking the drafts "sent" again would claim a delivery that never was.
    pass
