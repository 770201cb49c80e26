"""notifications: events with a kind and a subject, retries, job runs; messages stored once

Revision ID: 0004_notification_events
Revises: 0003_core_groundwork
Create Date: 2026-11-22 23:05:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0004_notification_events'
down_revision = '0003_core_groundwork'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notification_job_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('last_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_succeeded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_job_runs')),
    sa.UniqueConstraint('name', name=op.f('uq_notification_job_runs_name'))
    )

    with op.batch_alter_table('notification_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject_type', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('subject_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('payload', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column('kind', existing_type=sa.String(length=32), type_=sa.String(length=64), existing_nullable=False)
    # Every event so far was about a post.
    op.execute("UPDATE notification_events SET subject_type = 'posts', subject_id = post_id, attempts = 0")
    with op.batch_alter_table('notification_events', schema=None) as batch_op:
        batch_op.alter_column('subject_type', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('attempts', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index('ix_notification_events_subject', ['subject_type', 'subject_id'], unique=False)
        batch_op.drop_constraint('fk_notification_events_post_id_posts', type_='foreignkey')
        batch_op.drop_column('post_id')

    # A message is stored once, as the bytes that are sent. Rows written before raw bytes
    # existed can't be sent any more: set them aside rather than lose them silently.
    op.execute(
        "UPDATE outbox_messages SET status = 'failed', last_error = 'no stored message to send' "
        "WHERE raw_message IS NULL AND status IN ('queued', 'sending')"
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('html_body')
        batch_op.drop_column('text_body')


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text_body', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('html_body', sa.Text(), nullable=True))

    with op.batch_alter_table('notification_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('post_id', sa.Integer(), nullable=True))
    op.execute("UPDATE notification_events SET post_id = subject_id WHERE subject_type = 'posts'")
    op.execute("DELETE FROM notification_events WHERE post_id IS NULL")
    with op.batch_alter_table('notification_events', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_notification_events_post_id_posts', 'posts', ['post_id'], ['id'], ondelete='CASCADE')
        batch_op.drop_index('ix_notification_events_subject')
        batch_op.alter_column('kind', existing_type=sa.String(length=64), type_=sa.String(length=32), existing_nullable=False)
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('last_error')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('payload')
        batch_op.drop_column('subject_id')
        batch_op.drop_column('subject_type')

    op.drop_table('notification_job_runs')
