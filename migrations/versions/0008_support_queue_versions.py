"""support queue: a data version per course, so the rendered queue can be cached

Revision ID: 0008_support_queue
Revises: 0007_performance
Create Date: 2026-11-23 10:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0008_support_queue"
down_revision = "0007_performance"
branch_labels = None
depends_on = None


def upgrade():
    # No rows: a course without one is at version 0, and the first change inserts it.
    op.create_table(
        "support_queue_versions",
        sa.Column("course_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_support_queue_versions_course_id_courses")
        ),
        sa.PrimaryKeyConstraint("course_id", name=op.f("pk_support_queue_versions")),
    )


def downgrade():
    op.drop_table("support_queue_versions")
