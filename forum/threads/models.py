"""Posts in a prompt's thread, and the revisions their authors make."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.accounts.models import User
from forum.courses.models import Prompt
from forum.database import UTCDateTime, enum_type, utcnow
from forum.extensions import Model
from forum.markup import StoredMarkdown


class PostStatus(StrEnum):
    VISIBLE = "visible"
    HELD = "held"  # waiting for a moderator before anyone else sees it
    HIDDEN = "hidden"  # hidden pending review, or by a moderator
    REMOVED = "removed"  # removed by a moderator
    DELETED = "deleted"  # deleted by its author; a placeholder keeps the thread readable


class Post(StoredMarkdown, Model):
    __tablename__ = "posts"
    __table_args__ = (
        # One post per form: a double-clicked submit finds the post the first click made.
        UniqueConstraint("author_id", "idempotency_key"),
        # A thread in reading order, covering the status filter: page boundaries and keyset
        # seeks (threads.services.thread_page) read only this index.
        Index("ix_posts_thread_order", "prompt_id", "created_at", "id", "status", "published_at"),
        # A person's posts by thread and time: moderation's repeated-post check reads only
        # their recent posts in OTHER threads (two ranges of prompt_id), however many they
        # wrote in this one; any look-up by author alone uses it too.
        Index("ix_posts_author_thread", "author_id", "prompt_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id"))
    # Changed only by threads.services.change_post_status, which keeps counts and signals.
    status: Mapped[PostStatus] = mapped_column(
        enum_type(PostStatus, 16), default=PostStatus.VISIBLE, index=True
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When readers could first see it (None while held); post_published is sent then.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    prompt: Mapped[Prompt] = relationship()
    author: Mapped[User] = relationship()
    parent: Mapped[Post | None] = relationship(remote_side=[id])
    revisions: Mapped[list[PostRevision]] = relationship(
        back_populates="post", order_by="PostRevision.id"
    )

    @property
    def is_visible(self) -> bool:
        return self.status == PostStatus.VISIBLE


class PostRevision(StoredMarkdown, Model):
    """An earlier text of a post, kept when its author edits it."""

    __tablename__ = "post_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    editor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    post: Mapped[Post] = relationship(back_populates="revisions")
