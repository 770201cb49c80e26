"""Subscriptions, preferences, notification events, the outbox and unsubscribe tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forum.database import UTCDateTime, utcnow
from forum.extensions import db


class SubscriptionMode(StrEnum):
    WATCHING = "watching"  # an email for every new post
    DIGEST = "digest"  # new posts gathered into the daily digest
    MUTED = "muted"  # nothing, even when the module is watched


class Delivery(StrEnum):
    IMMEDIATE = "immediate"
    DIGEST = "digest"
    NONE = "none"


class EventStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class Category(StrEnum):
    ACCOUNT = "account"  # password resets, confirmations: never suppressed
    DISCUSSION = "discussion"
    DIGEST = "digest"


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class UnsubscribeScope(StrEnum):
    THREAD = "thread"
    MODULE = "module"
    ALL_DISCUSSION = "all_discussion"


class Subscription(db.Model):
    """A user's wish about one thread (prompt) or one whole module."""

    __tablename__ = "notification_subscriptions"
    __table_args__ = (
        UniqueConstraint("user_id", "prompt_id"),
        UniqueConstraint("user_id", "module_id"),
        Index("ix_notification_subscriptions_prompt_id_mode", "prompt_id", "mode", "user_id"),
        Index("ix_notification_subscriptions_module_id_mode", "module_id", "mode", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Exactly one of prompt_id / module_id is set.
    prompt_id: Mapped[int | None] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"))
    module_id: Mapped[int | None] = mapped_column(ForeignKey("modules.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(16), default=SubscriptionMode.WATCHING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationPreference(db.Model):
    """How a user wants discussion email; no row means the defaults."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    delivery: Mapped[str] = mapped_column(String(16), default=Delivery.IMMEDIATE)
    include_excerpts: Mapped[bool] = mapped_column(default=True)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationEvent(db.Model):
    """Something worth telling subscribers about; the worker fans it out when due."""

    __tablename__ = "notification_events"
    __table_args__ = (Index("ix_notification_events_status_due_at", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.PENDING)
    # Highest user id already fanned out to; a crashed worker resumes after it.
    fanout_cursor: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(db.Model):
    """One email to one recipient, written in the transaction that caused it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    to_address: Mapped[str] = mapped_column(String(254))
    category: Mapped[str] = mapped_column(String(16))
    # One event gives one recipient at most one email: the unique key says so.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    # Generated once, at insert; a retried message keeps it.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    list_unsubscribe_url: Mapped[str | None] = mapped_column(String(500))
    # The whole message as sent (headers and MIME parts), built once at queue time, so a
    # retry sends the same bytes and the worker spends its time on delivery alone.
    raw_message: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UnsubscribeToken(db.Model):
    """A short random token for one recipient and one scope; reused by every email.

    ``scope_id`` is the prompt or module id, and 0 for ``all_discussion`` (0 rather than
    NULL so the unique constraint holds on every backend).
    """

    __tablename__ = "unsubscribe_tokens"
    __table_args__ = (UniqueConstraint("user_id", "scope", "scope_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(43), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(20))
    scope_id: Mapped[int] = mapped_column(default=0)
    # What the scope was before the last one-click unsubscribe, for "Undo".
    undo_state: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BouncingAddress(db.Model):
    """An address the mail server refused permanently; discussion email skips it."""

    __tablename__ = "bouncing_addresses"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
