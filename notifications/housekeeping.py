"""Looking after the queue: what is in it (``flask notifications status``) and pruning
what is finished (``flask notifications prune``). Flushes only; the commands commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from forum.database import utcnow
from forum.extensions import db
from notifications.models import (
    EventStatus,
    JobRun,
    NotificationEvent,
    OutboxMessage,
    OutboxStatus,
)

PRUNABLE_MESSAGES = (OutboxStatus.SENT, OutboxStatus.CANCELLED)
PRUNABLE_EVENTS = (EventStatus.DONE, EventStatus.CANCELLED)
WAITING_MESSAGES = (OutboxStatus.QUEUED, OutboxStatus.SENDING)


@dataclass(frozen=True)
class PruneReport:
    messages: int
    events: int


def _delete_in_batches(model, where, batch_size: int) -> int:
    deleted = 0
    while True:
        ids = select(model.id).where(*where).order_by(model.id).limit(batch_size)
        result = db.session.execute(
            delete(model).where(model.id.in_(ids)),
            execution_options={"synchronize_session": False},
        )
        count = int(getattr(result, "rowcount", 0))
        deleted += count
        if count < batch_size:
            return deleted


def prune(
    older_than_days: float | None = None,
    now: datetime | None = None,
    batch_size: int | None = None,
) -> PruneReport:
    """Delete sent and cancelled messages, and done and cancelled events, older than
    ``older_than_days`` (default NOTIFICATIONS_PRUNE_AFTER_DAYS), by when they were made.

    Queued, sending and failed messages and pending and failed events always stay. The
    newest event always stays too: SQLite may hand a deleted highest id to the next row,
    and an event's outbox rows are keyed by its id.
    """
    config = current_app.config
    days = float(
        config["NOTIFICATIONS_PRUNE_AFTER_DAYS"] if older_than_days is None else older_than_days
    )
    if days < 0:
        raise ValueError("older_than_days can't be negative")
    size = int(batch_size or config["NOTIFICATIONS_PRUNE_BATCH"])
    cutoff = (now or utcnow()) - timedelta(days=days)
    messages = _delete_in_batches(
        OutboxMessage,
        (OutboxMessage.status.in_(PRUNABLE_MESSAGES), OutboxMessage.created_at < cutoff),
        size,
    )
    newest = db.session.execute(select(func.max(NotificationEvent.id))).scalar() or 0
    events = _delete_in_batches(
        NotificationEvent,
        (
            NotificationEvent.status.in_(PRUNABLE_EVENTS),
            NotificationEvent.created_at < cutoff,
            NotificationEvent.id < newest,
        ),
        size,
    )
    return PruneReport(messages=messages, events=events)


@dataclass(frozen=True)
class FailedItem:
    what: str  # "event" or "message"
    id: int
    label: str  # the event's kind and subject, or the message's address and subject
    at: datetime
    error: str


@dataclass(frozen=True)
class QueueStatus:
    events: dict[str, int]
    messages: dict[str, int]
    oldest_waiting_message: timedelta | None  # queued or sending, since it was queued
    oldest_due_event: timedelta | None  # pending and due, since it became due
    failed: list[FailedItem]
    jobs: list[JobRun]


def queue_status(now: datetime | None = None, failed_limit: int = 10) -> QueueStatus:
    """Counts by status, the oldest waiting work, and the latest failures with errors."""
    now = now or utcnow()
    events = {
        str(status): count
        for status, count in db.session.execute(
            select(NotificationEvent.status, func.count()).group_by(NotificationEvent.status)
        )
    }
    messages = {
        str(status): count
        for status, count in db.session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )
    }
    oldest_message = db.session.execute(
        select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status.in_(WAITING_MESSAGES))
    ).scalar()
    oldest_event = db.session.execute(
        select(func.min(NotificationEvent.due_at)).where(
            NotificationEvent.status == EventStatus.PENDING, NotificationEvent.due_at <= now
        )
    ).scalar()
    failed = _failed_events(failed_limit) + _failed_messages(failed_limit)
    failed.sort(key=lambda item: item.at, reverse=True)
    return QueueStatus(
        events=events,
        messages=messages,
        oldest_waiting_message=_age(now, oldest_message),
        oldest_due_event=_age(now, oldest_event),
        failed=failed[:failed_limit],
        jobs=list(db.session.execute(select(JobRun).order_by(JobRun.name)).scalars()),
    )


def _age(now: datetime, since: datetime | None) -> timedelta | None:
    if since is None:
        return None
    if since.tzinfo is None:  # defensive: MIN() keeps the column's UTC type on both backends
        since = since.replace(tzinfo=now.tzinfo)
    return max(timedelta(0), now - since)


def _failed_events(limit: int) -> list[FailedItem]:
    rows = db.session.execute(
        select(NotificationEvent)
        .where(NotificationEvent.status == EventStatus.FAILED)
        .order_by(NotificationEvent.id.desc())
        .limit(limit)
    ).scalars()
    return [
        FailedItem(
            "event",
            event.id,
            f"{event.kind} {event.subject_type}/{event.subject_id}",
            event.finished_at or event.created_at,
            event.last_error or "",
        )
        for event in rows
    ]


def _failed_messages(limit: int) -> list[FailedItem]:
    rows = db.session.execute(
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.FAILED)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    ).scalars()
    return [
        FailedItem(
            "message",
            row.id,
            f"{row.category} to {row.to_address}",
            row.created_at,
            row.last_error or "",
        )
        for row in rows
    ]
