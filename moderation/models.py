"""Moderation's tables: flags, review items, holds' word lists, locks, sanctions, appeals,
notices to authors and moderators' notes on accounts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.accounts.models import User
from forum.database import UTCDateTime, enum_type, utcnow
from forum.extensions import Model
from forum.threads.models import Post


class FlagReason(StrEnum):
    SPAM = "spam"
    HARASSMENT = "harassment"  # harassment, hate or dehumanising language
    PRIVACY = "privacy"  # shares someone's story or details without consent
    OFF_TOPIC = "off_topic"
    OTHER = "other"  # a note is required


FLAG_REASON_LABELS = {
    FlagReason.SPAM: "Spam or advertising",
    FlagReason.HARASSMENT: "Harassment, hate or dehumanising language",
    FlagReason.PRIVACY: "Shares someone's story or details without their consent",
    FlagReason.OFF_TOPIC: "Off-topic for this thread",
    FlagReason.OTHER: "Something else (please say what)",
}


class FlagState(StrEnum):
    OPEN = "open"
    ACTIONED = "actioned"  # the post was hidden, removed or sent back for revision
    DISMISSED = "dismissed"  # a moderator kept the post


class ItemState(StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    HIDDEN = "hidden"
    REMOVED = "removed"
    REVISION_REQUESTED = "revision_requested"
    APPEALED = "appealed"


class ItemSource(StrEnum):
    FLAGS = "flags"  # people flagged it
    HOLD = "hold"  # a rule held it before anyone saw it


class Action(StrEnum):
    KEEP = "keep"
    HIDE = "hide"
    REMOVE = "remove"
    REQUEST_REVISION = "request_revision"


class WatchAction(StrEnum):
    HOLD = "hold"  # the post waits for a moderator
    FLAG = "flag"  # the post is shown, and a review item is opened
    BLOCK = "block"  # the post is refused with a message


class SanctionKind(StrEnum):
    SILENCE = "silence"  # can read, cannot post, until a time
    SUSPEND = "suspend"  # a longer break from posting, until a time
    BAN = "ban"  # for good (until lifted)


class AppealState(StrEnum):
    PENDING = "pending"
    UPHELD = "upheld"  # the decision stands
    OVERTURNED = "overturned"  # the decision was reversed


class ReviewItem(Model):
    """Everything moderators need to decide about one post: its flags or its hold."""

    __tablename__ = "moderation_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), unique=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"))
    state: Mapped[ItemState] = mapped_column(enum_type(ItemState, 24), default=ItemState.PENDING)
    source: Mapped[ItemSource] = mapped_column(enum_type(ItemSource, 16))
    # For held items: the rule that matched and its words for the moderator.
    hold_rule: Mapped[str | None] = mapped_column(String(40))
    hold_reason: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    open_flags: Mapped[int] = mapped_column(Integer, default=0)
    # Harassment and the like: the text is behind a click in the queue.
    distressing: Mapped[bool] = mapped_column(Boolean, default=False)
    # The post as it was when first flagged or held: edits and deletes can't erase it.
    snapshot_source: Mapped[str] = mapped_column(Text)
    snapshot_html: Mapped[str] = mapped_column(Text)
    snapshot_author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    snapshot_posted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Every decision bumps it; a decision made on an older version is refused (409).
    version: Mapped[int] = mapped_column(Integer, default=0)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # Hidden automatically (threshold or a moderator's flag) while it waits.
    auto_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    post: Mapped[Post] = relationship()
    snapshot_author: Mapped[User] = relationship(foreign_keys=[snapshot_author_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    claimer: Mapped[User | None] = relationship(foreign_keys=[claimed_by])


# The queue's order (highest priority first, then oldest) is in both indexes, so a page is
# a walk of an index from where it starts, for one state, or for one module and state.
Index(
    "ix_moderation_items_queue",
    ReviewItem.state,
    ReviewItem.priority.desc(),
    ReviewItem.created_at,
    ReviewItem.id,
)
Index(
    "ix_moderation_items_module_queue",
    ReviewItem.module_id,
    ReviewItem.state,
    ReviewItem.priority.desc(),
    ReviewItem.created_at,
    ReviewItem.id,
)


class Flag(Model):
    __tablename__ = "moderation_flags"
    __table_args__ = (
        # One open flag per person per post.
        Index(
            "uq_moderation_flags_open",
            "post_id",
            "reporter_id",
            unique=True,
            postgresql_where=text("state = 'open' AND reporter_id IS NOT NULL"),
            sqlite_where=text("state = 'open' AND reporter_id IS NOT NULL"),
        ),
        Index("ix_moderation_flags_reporter_created", "reporter_id", "created_at"),
        # An item's open flags by reason (the queue's counts and its reason filter) are
        # read from the index alone.
        Index("ix_moderation_flags_item_state_reason", "item_id", "state", "reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("moderation_items.id"))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    # None: the system (a watched word set to "flag").
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[FlagReason] = mapped_column(enum_type(FlagReason, 16))
    note: Mapped[str | None] = mapped_column(Text)
    state: Mapped[FlagState] = mapped_column(enum_type(FlagState, 16), default=FlagState.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    reporter: Mapped[User | None] = relationship()


class WatchedWord(Model):
    __tablename__ = "moderation_watched_words"

    id: Mapped[int] = mapped_column(primary_key=True)
    phrase: Mapped[str] = mapped_column(String(200), unique=True)
    action: Mapped[WatchAction] = mapped_column(enum_type(WatchAction, 16))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ThreadLock(Model):
    __tablename__ = "moderation_thread_locks"

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"), unique=True)
    locked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Sanction(Model):
    __tablename__ = "moderation_sanctions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[SanctionKind] = mapped_column(enum_type(SanctionKind, 16))
    reason: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lift_reason: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def label(self) -> str:
        return {
            SanctionKind.SILENCE: "Silenced",
            SanctionKind.SUSPEND: "Suspended",
            SanctionKind.BAN: "Banned",
        }[self.kind]


class Appeal(Model):
    """An author asks once for a removal or a sanction to be looked at again."""

    __tablename__ = "moderation_appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    appellant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("moderation_items.id"), unique=True)
    sanction_id: Mapped[int | None] = mapped_column(
        ForeignKey("moderation_sanctions.id"), unique=True
    )
    # Whoever made the decision appealed against: they may not decide the appeal.
    original_moderator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The item's state before the appeal, to go back to if the decision stands.
    previous_state: Mapped[ItemState | None] = mapped_column(enum_type(ItemState, 24))
    message: Mapped[str] = mapped_column(Text)
    state: Mapped[AppealState] = mapped_column(
        enum_type(AppealState, 16), default=AppealState.PENDING, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=0)

    appellant: Mapped[User] = relationship(foreign_keys=[appellant_id])
    item: Mapped[ReviewItem | None] = relationship()
    sanction: Mapped[Sanction | None] = relationship()
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])


class Notice(Model):
    """What an author is told on the site: the outcome and the reason."""

    __tablename__ = "moderation_notices"
    __table_args__ = (Index("ix_moderation_notices_user_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("moderation_items.id"))
    sanction_id: Mapped[int | None] = mapped_column(ForeignKey("moderation_sanctions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    item: Mapped[ReviewItem | None] = relationship()
    sanction: Mapped[Sanction | None] = relationship()


class AccountNote(Model):
    """A moderator's private note on an account; only moderators read them."""

    __tablename__ = "moderation_account_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User] = relationship(foreign_keys=[author_id])


class QueueVersion(Model):
    """The review queue's data version: one row, bumped at the commit of every transaction
    that changed review items, flags or appeals (see moderation.services), so a queue page
    cached under an older version is never served again."""

    __tablename__ = "moderation_queue_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # A database made afresh (or a row made again) never shares cache entries with an older one.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
