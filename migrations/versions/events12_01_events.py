"""events (热点/舆情事件): events, their items, candidate index, heat curve, escalations

Revision ID: events12_01
Revises: review13_01
Create Date: 2026-12-01 19:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'events12_01'
down_revision = "review13_01"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('title_manual', sa.Boolean(), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('places', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('asker_count', sa.Integer(), nullable=False),
    sa.Column('profile', sa.JSON(), nullable=False),
    sa.Column('stats', sa.JSON(), nullable=False),
    sa.Column('heat', sa.Float(), nullable=False),
    sa.Column('heat_peak', sa.Float(), nullable=False),
    sa.Column('heat_breakdown', sa.JSON(), nullable=True),
    sa.Column('heat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_level', sa.Integer(), nullable=False),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['escalated_by_id'], ['users.id'], name=op.f('fk_events_escalated_by_id_users')),
    sa.ForeignKeyConstraint(['merged_into_id'], ['events.id'], name=op.f('fk_events_merged_into_id_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_status_heat', ['status', 'heat'], unique=False)
        batch_op.create_index('ix_events_status_last_at', ['status', 'last_at'], unique=False)

    op.create_table('event_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('placed_by', sa.String(length=10), nullable=False),
    sa.Column('similarity', sa.Float(), nullable=True),
    sa.Column('item_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_event_items_case_id_cases')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_items_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_event_items_item_id_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_items')),
    sa.UniqueConstraint('item_id', name=op.f('uq_event_items_item_id'))
    )
    with op.batch_alter_table('event_items', schema=None) as batch_op:
        batch_op.create_index('ix_event_items_event_at', ['event_id', 'item_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_items_case_id'), ['case_id'], unique=False)

    op.create_table('event_detached',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('detached_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detached_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['detached_by_id'], ['users.id'], name=op.f('fk_event_detached_detached_by_id_users')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_detached_event_id_events'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_event_detached_item_id_items')),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_event_detached'))
    )

    op.create_table('event_terms',
    sa.Column('key', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_terms_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key', 'event_id', name=op.f('pk_event_terms'))
    )
    with op.batch_alter_table('event_terms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_terms_event_id'), ['event_id'], unique=False)

    op.create_table('event_heat_samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heat', sa.Float(), nullable=False),
    sa.Column('volume_1h', sa.Integer(), nullable=False),
    sa.Column('volume_6h', sa.Integer(), nullable=False),
    sa.Column('volume_24h', sa.Integer(), nullable=False),
    sa.Column('volume_7d', sa.Integer(), nullable=False),
    sa.Column('askers_24h', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_heat_samples_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_heat_samples'))
    )
    with op.batch_alter_table('event_heat_samples', schema=None) as batch_op:
        batch_op.create_index('ix_event_heat_samples_event_at', ['event_id', 'at'], unique=False)

    op.create_table('event_escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('heat', sa.Float(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_event_escalations_actor_id_users')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_escalations_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_escalations')),
    sa.UniqueConstraint('event_id', 'level', name=op.f('uq_event_escalations_event_id_level'))
    )


def downgrade():
    op.drop_table('event_escalations')
    with op.batch_alter_table('event_heat_samples', schema=None) as batch_op:
        batch_op.drop_index('ix_event_heat_samples_event_at')
    op.drop_table('event_heat_samples')
    with op.batch_alter_table('event_terms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_terms_event_id'))
    op.drop_table('event_terms')
    op.drop_table('event_detached')
    with op.batch_alter_table('event_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_items_case_id'))
        batch_op.drop_index('ix_event_items_event_at')
    op.drop_table('event_items')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_status_last_at')
        batch_op.drop_index('ix_events_status_heat')
    op.drop_table('events')
