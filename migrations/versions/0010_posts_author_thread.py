"""posts: an index by author, thread and time (moderation's repeated-post check)

Replaces ix_posts_author_id, which it starts with.

Revision ID: 0010_posts_author_thread
Revises: 0009_moderation_queue_order
Create Date: 2026-11-23 12:00:00

"""
from alembic import op


revision = '0010_posts_author_thread'
down_revision = '0009_moderation_queue_order'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.create_index('ix_posts_author_thread', ['author_id', 'prompt_id', 'created_at'], unique=False)
        batch_op.drop_index(batch_op.f('ix_posts_author_id'))


def downgrade():
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_posts_author_id'), ['author_id'], unique=False)
        batch_op.drop_index('ix_posts_author_thread')
