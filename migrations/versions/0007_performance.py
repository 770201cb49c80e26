"""performance: data versions for the page cache, a covering index for thread order

Revision ID: 0007_performance
Revises: 0006_moderation
Create Date: 2026-11-22 22:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007_performance'
down_revision = '0006_moderation'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('prompts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index('ix_posts_prompt_id_created_at')
        batch_op.create_index('ix_posts_thread_order', ['prompt_id', 'created_at', 'id', 'status', 'published_at'], unique=False)


def downgrade():
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index('ix_posts_thread_order')
        batch_op.create_index('ix_posts_prompt_id_created_at', ['prompt_id', 'created_at', 'id'], unique=False)

    with op.batch_alter_table('prompts', schema=None) as batch_op:
        batch_op.drop_column('version')

    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.drop_column('version')
