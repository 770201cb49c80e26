"""moderation queue: indexes in the queue's order, flags by item and reason, a data version

Revision ID: 0009_moderation_queue_order
Revises: 0008_support_queue
Create Date: 2026-11-23 10:00:00

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


revision = '0009_moderation_queue_order'
down_revision = '0008_support_queue'
branch_labels = None
depends_on = None


def upgrade():
    version = op.create_table('moderation_queue_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_queue_version'))
    )
    # The one row; its time (to the microsecond) keeps this database's cached queue pages
    # apart from any other's.
    op.bulk_insert(version, [{'id': 1, 'version': 1, 'created_at': datetime.now(UTC)}])

    with op.batch_alter_table('moderation_items', schema=None) as batch_op:
        batch_op.drop_index('ix_moderation_items_state_priority')
        batch_op.drop_index('ix_moderation_items_module_id')
        batch_op.create_index('ix_moderation_items_queue', ['state', sa.text('priority DESC'), 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_moderation_items_module_queue', ['module_id', 'state', sa.text('priority DESC'), 'created_at', 'id'], unique=False)

    with op.batch_alter_table('moderation_flags', schema=None) as batch_op:
        batch_op.drop_index('ix_moderation_flags_item_id')
        batch_op.create_index('ix_moderation_flags_item_state_reason', ['item_id', 'state', 'reason'], unique=False)


def downgrade():
    with op.batch_alter_table('moderation_flags', schema=None) as batch_op:
        batch_op.drop_index('ix_moderation_flags_item_state_reason')
        batch_op.create_index('ix_moderation_flags_item_id', ['item_id'], unique=False)

    with op.batch_alter_table('moderation_items', schema=None) as batch_op:
        batch_op.drop_index('ix_moderation_items_module_queue')
        batch_op.drop_index('ix_moderation_items_queue')
        batch_op.create_index('ix_moderation_items_module_id', ['module_id'], unique=False)
        batch_op.create_index('ix_moderation_items_state_priority', ['state', 'priority', 'id'], unique=False)

    op.drop_table('moderation_queue_version')
