"""Subscriptions, preferences, notification events, the outbox, unsubscribe tokens and jobs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forum.database import UTCDateTime, enum_type, utcnow
from forum.extensions import Model


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
    FAILED = "failed"  # set aside after too many attempts, or no handler: see last_error


class Category(StrEnum):
    ACCOUNT = "account"  # password resets, confirmations: never suppressed
    DISCUSSION = "discussion"
    DIGEST = "digest"
    # Operational mail to staff (a facilitator alert, an escalation): never suppressed by
    # discussion preferences or the bounce list, and carries no unsubscribe footer.
    STAFF_ALERT = "staff_alert"


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


class Subscription(Model):
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
    mode: Mapped[SubscriptionMode] = mapped_column(
        enum_type(SubscriptionMode, 16), default=SubscriptionMode.WATCHING
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationPreference(Model):
    """How a user wants discussion email; no row means the defaults."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    delivery: Mapped[Delivery] = mapped_column(enum_type(Delivery, 16), default=Delivery.IMMEDIATE)
    include_excerpts: Mapped[bool] = mapped_column(default=True)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationEvent(Model):
    """Something worth telling people about; the worker hands it to its kind's handler.

    ``kind`` names a handler registered with ``notifications.events.register_event_kind``;
    ``subject_type``/``subject_id`` name the row it is about (a table name and an id, as
    in the audit log), ``payload`` carries whatever else the handler needs (JSON).
    """

    __tablename__ = "notification_events"
    __table_args__ = (
        Index("ix_notification_events_status_due_at", "status", "due_at"),
        Index("ix_notification_events_subject", "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[int | None]
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[EventStatus] = mapped_column(
        enum_type(EventStatus, 16), default=EventStatus.PENDING
    )
    # Highest user id already fanned out to; a crashed worker resumes after it.
    fanout_cursor: Mapped[int] = mapped_column(default=0)
    # Consecutive failed (or interrupted) attempts; a successful batch resets it.
    attempts: Mapped[int] = mapped_column(default=0)
    # After a failure: not before this. None: as soon as due_at has passed.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Model):
    """One email to one recipient, written in the transaction that caused it.

    The message is stored once, as the bytes that go over SMTP (``raw_message``), built
    at queue time so a retry sends the very same bytes. The few header values kept beside
    it are for the worker's last safety check and for people looking at the queue.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    to_address: Mapped[str] = mapped_column(String(254))
    category: Mapped[Category] = mapped_column(enum_type(Category, 16))
    # One event gives one recipient at most one email: the unique key says so.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    # Generated once, at insert; a retried message keeps it.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    list_unsubscribe_url: Mapped[str | None] = mapped_column(String(500))
    # NULL only for a row that failed when it was built (status failed, see last_error).
    raw_message: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[OutboxStatus] = mapped_column(
        enum_type(OutboxStatus, 16), default=OutboxStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UnsubscribeToken(Model):
    """A short random token for one recipient and one scope; reused by every email.

    ``scope_id`` is the prompt or module id, and 0 for ``all_discussion`` (0 rather than
    NULL so the unique constraint holds on every backend).
    """

    __tablename__ = "unsubscribe_tokens"
    __table_args__ = (UniqueConstraint("user_id", "scope", "scope_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(43), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[UnsubscribeScope] = mapped_column(enum_type(UnsubscribeScope, 20))
    scope_id: Mapped[int] = mapped_column(default=0)
    # What the scope was before the last one-click unsubscribe, for "Undo": a subscription
    # mode, a delivery, or "none" (no row), so a plain string rather than one enum.
    undo_state: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BouncingAddress(Model):
    """An address the mail server refused permanently; discussion email skips it."""

    __tablename__ = "bouncing_addresses"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))


class JobRun(Model):
    """When a periodic job last ran, shared by every worker and cron run on the database.

    Only jobs with a period have a row (jobs that run every cycle need no bookkeeping); a
    claim on the row makes one worker at a time run the job.
    """

    __tablename__ = "notification_job_runs"

    # An integer key because forum.claims addresses rows by ``id``.
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the last run that ended without an error started ("done for today?").
    last_succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
