"""Reply review (先审后发), reply templates, text versions, and rumour clarification (辟谣)

Revision ID: review13_01
Revises: faq15_01
Create Date: 2026-12-01 19:00:00

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'review13_01'
down_revision = 'faq15_01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'reply_templates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('topic', sa.String(length=60), nullable=True),
        sa.Column('request_type', sa.String(length=10), nullable=True),
        sa.Column('case_state', sa.String(length=20), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_reply_templates_updated_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reply_templates')),
    )
    with op.batch_alter_table('reply_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reply_templates_kind'), ['kind'], unique=False)

    op.create_table(
        'rumours',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('note', sa.String(length=1000), nullable=True),
        sa.Column('marked_by_id', sa.Integer(), nullable=True),
        sa.Column('marked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('verified_by_id', sa.Integer(), nullable=True),
        sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finding', sa.String(length=2000), nullable=True),
        sa.Column('source_kind', sa.String(length=20), nullable=True),
        sa.Column('source_title', sa.String(length=300), nullable=True),
        sa.Column('source_url', sa.String(length=500), nullable=True),
        sa.Column('attachment_name', sa.String(length=200), nullable=True),
        sa.Column('attachment_path', sa.String(length=300), nullable=True),
        sa.Column('clarified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('signatures', sa.JSON(), nullable=True),
        sa.Column('respread_count', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['marked_by_id'], ['users.id'], name=op.f('fk_rumours_marked_by_id_users')),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_rumours_unit_id_units')),
        sa.ForeignKeyConstraint(['verified_by_id'], ['users.id'], name=op.f('fk_rumours_verified_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rumours')),
    )
    with op.batch_alter_table('rumours', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rumours_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_rumours_unit_id'), ['unit_id'], unique=False)

    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier', sa.String(length=1), nullable=True))
        batch_op.add_column(sa.Column('review_round', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('text_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('submitted_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('published_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('published_link', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('published_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('publish_method', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('corrects_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rumour_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_replies_rumour_id'), ['rumour_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_replies_submitted_by_id_users'), 'users', ['submitted_by_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_replies_published_by_id_users'), 'users', ['published_by_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_replies_corrects_id_replies'), 'replies', ['corrects_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_replies_rumour_id_rumours'), 'rumours', ['rumour_id'], ['id'])

    op.create_table(
        'reply_versions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reply_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('text_hash', sa.String(length=64), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('note', sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_reply_versions_author_id_users')),
        sa.ForeignKeyConstraint(['reply_id'], ['replies.id'], name=op.f('fk_reply_versions_reply_id_replies')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reply_versions')),
        sa.UniqueConstraint('reply_id', 'number', name=op.f('uq_reply_versions_reply_id_number')),
    )
    with op.batch_alter_table('reply_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reply_versions_reply_id'), ['reply_id'], unique=False)

    op.create_table(
        'review_steps',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reply_id', sa.Integer(), nullable=False),
        sa.Column('round', sa.Integer(), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('decision', sa.String(length=10), nullable=False),
        sa.Column('tier', sa.String(length=1), nullable=False),
        sa.Column('reviewer_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('opinion', sa.String(length=1000), nullable=True),
        sa.Column('text_hash', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['reply_id'], ['replies.id'], name=op.f('fk_review_steps_reply_id_replies')),
        sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_review_steps_reviewer_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_review_steps')),
    )
    with op.batch_alter_table('review_steps', schema=None) as batch_op:
        batch_op.create_index('ix_review_steps_reply_round', ['reply_id', 'round'], unique=False)

    op.create_table(
        'rumour_cases',
        sa.Column('rumour_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_rumour_cases_case_id_cases')),
        sa.ForeignKeyConstraint(['rumour_id'], ['rumours.id'], name=op.f('fk_rumour_cases_rumour_id_rumours')),
        sa.PrimaryKeyConstraint('rumour_id', 'case_id', name=op.f('pk_rumour_cases')),
    )
    with op.batch_alter_table('rumour_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rumour_cases_case_id'), ['case_id'], unique=False)

    op.create_table(
        'rumour_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rumour_id', sa.Integer(), nullable=False),
        sa.Column('reply_id', sa.Integer(), nullable=False),
        sa.Column('target_kind', sa.String(length=10), nullable=False),
        sa.Column('source_id', sa.Integer(), nullable=True),
        sa.Column('item_id', sa.Integer(), nullable=True),
        sa.Column('method', sa.String(length=20), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_rumour_deliveries_item_id_items')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_rumour_deliveries_recorded_by_id_users')),
        sa.ForeignKeyConstraint(['reply_id'], ['replies.id'], name=op.f('fk_rumour_deliveries_reply_id_replies')),
        sa.ForeignKeyConstraint(['rumour_id'], ['rumours.id'], name=op.f('fk_rumour_deliveries_rumour_id_rumours')),
        sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_rumour_deliveries_source_id_sources')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rumour_deliveries')),
    )
    with op.batch_alter_table('rumour_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rumour_deliveries_rumour_id'), ['rumour_id'], unique=False)

    op.create_table(
        'rumour_referrals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rumour_id', sa.Integer(), nullable=False),
        sa.Column('agency', sa.String(length=20), nullable=False),
        sa.Column('reference', sa.String(length=200), nullable=True),
        sa.Column('note', sa.String(length=1000), nullable=True),
        sa.Column('referred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_rumour_referrals_recorded_by_id_users')),
        sa.ForeignKeyConstraint(['rumour_id'], ['rumours.id'], name=op.f('fk_rumour_referrals_rumour_id_rumours')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rumour_referrals')),
    )
    with op.batch_alter_table('rumour_referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rumour_referrals_rumour_id'), ['rumour_id'], unique=False)

    op.create_table(
        'rumour_spreads',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rumour_id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('similarity', sa.Float(), nullable=False),
        sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_rumour_spreads_item_id_items')),
        sa.ForeignKeyConstraint(['rumour_id'], ['rumours.id'], name=op.f('fk_rumour_spreads_rumour_id_rumours')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rumour_spreads')),
        sa.UniqueConstraint('rumour_id', 'item_id', name=op.f('uq_rumour_spreads_rumour_id_item_id')),
    )
    with op.batch_alter_table('rumour_spreads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rumour_spreads_rumour_id'), ['rumour_id'], unique=False)

    _seed_templates()

    # Replies finalised before review existed were published as they were: freeze them.
    op.execute(
        "UPDATE replies SET published_at = updated_at, publish_method = 'legacy' "
        "WHERE status = 'final'"
    )


def downgrade():
    for table in ('rumour_spreads', 'rumour_referrals', 'rumour_deliveries', 'rumour_cases',
                  'review_steps', 'reply_versions'):
        op.drop_table(table)
    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_replies_rumour_id_rumours'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_replies_corrects_id_replies'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_replies_published_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_replies_submitted_by_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_replies_rumour_id'))
        for column in ('rumour_id', 'corrects_id', 'publish_method', 'published_hash',
                       'published_link', 'published_by_id', 'published_at', 'submitted_by_id',
                       'submitted_at', 'text_hash', 'review_round', 'tier'):
            batch_op.drop_column(column)
    op.drop_table('rumours')
    op.drop_table('reply_templates')


def _seed_templates():
    # Default wordings, frozen here as they were when review began (administrators edit
    # them on the templates page; services/reply_templates.py keeps the same defaults for
    # the demo).
    from sentinel.services.reply_templates import DEFAULT_TEMPLATES

    table = sa.table(
        'reply_templates',
        sa.column('kind', sa.String), sa.column('name', sa.String),
        sa.column('request_type', sa.String), sa.column('body', sa.Text),
        sa.column('active', sa.Boolean), sa.column('updated_at', sa.DateTime(timezone=True)),
    )
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    if op.get_bind().dialect.name == 'sqlite':
        now = now.replace(tzinfo=None)  # stored naive UTC there (models/base.py UTCDateTime)
    op.bulk_insert(table, [
        {'kind': t['kind'], 'name': t['name'], 'request_type': t.get('request_type'),
         'body': t['body'], 'active': True, 'updated_at': now}
        for t in DEFAULT_TEMPLATES
    ])
