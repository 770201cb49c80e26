"""Notification events: a kind, a subject and a due time; each kind has a handler.

Other packages queue an event with :func:`queue_event` in their own transaction, and
register a handler for its kind once, at start-up, with :func:`register_event_kind`. The
worker claims due events one at a time and calls the handler, one batch per call:

    def handler(event: NotificationEvent, now: datetime) -> EventBatch

A handler reads what it needs (``event.subject_type``/``subject_id``, ``event.payload``),
queues mail through ``notifications.outbox`` and flushes; it never commits. It returns
``EventBatch(finished=False)`` to be called again for the next batch (keeping its place in
``event.fanout_cursor``), ``EventBatch(cancelled=True)`` when there is nothing to tell any
more, and may raise: the event is then retried with growing delays, and set aside as
``failed`` after NOTIFICATIONS_EVENT_MAX_ATTEMPTS, while other events go on. Handlers
must be safe to run again for the same batch (the outbox's dedupe keys make that easy).

Everything here flushes only; ``notifications.worker`` commits.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import Flask, current_app
from sqlalchemy import Table, and_, insert, or_, select
from sqlalchemy.orm import make_transient_to_detached

from forum.audit import subject_of
from forum.claims import claim_due
from forum.database import utcnow
from forum.extensions import db
from notifications.common import retry_delay
from notifications.models import EventStatus, NotificationEvent

log = logging.getLogger(__name__)

KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_EXTENSION_KEY = "notifications_event_kinds"


@dataclass(frozen=True)
class EventBatch:
    """What one call of a handler did."""

    queued: int = 0  # outbox rows offered
    finished: bool = True  # False: call again for the next batch
    cancelled: bool = False  # nothing to tell (the subject is gone or hidden)


EventHandler = Callable[[NotificationEvent, datetime], EventBatch]


def _handlers(app: Flask | None = None) -> dict[str, EventHandler]:
    # Per app, like the signal receivers: tests build many apps in one process.
    target = app if app is not None else current_app
    return target.extensions.setdefault(_EXTENSION_KEY, {})


def register_event_kind(kind: str, handler: EventHandler, *, app: Flask | None = None) -> None:
    """Make the worker hand events of ``kind`` to ``handler`` (call it from init_app)."""
    if not KIND_RE.match(kind):
        raise ValueError(f"an event kind is lower_snake_case, at most 64 characters: {kind!r}")
    handlers = _handlers(app)
    if handlers.get(kind, handler) is not handler:
        raise ValueError(f"event kind {kind!r} already has another handler")
    handlers[kind] = handler


def handler_for(kind: str) -> EventHandler | None:
    """The registered handler of ``kind``, if any."""
    return _handlers().get(kind)


def queue_event(
    kind: str,
    subject: Any,
    due_at: datetime | None = None,
    *,
    payload: Mapping[str, Any] | None = None,
) -> NotificationEvent:
    """Write one event in the caller's transaction, for its handler to act on when due.

    ``subject`` is a model instance or a (table name, id) pair; ``payload`` must be JSON.
    A rolled-back transaction takes the event with it, so nothing is sent for it.
    """
    if handler_for(kind) is None:
        raise ValueError(f"no handler for event kind {kind!r}: register_event_kind first")
    subject_type, subject_id = subject if isinstance(subject, tuple) else subject_of(subject)
    data = dict(payload) if payload is not None else None
    if data is not None:
        try:
            json.dumps(data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"an event payload must be JSON: {exc}") from None
    now = utcnow()
    values = {
        "kind": kind,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "payload": data,
        "due_at": due_at or now,
        "status": EventStatus.PENDING,
        "fanout_cursor": 0,
        "attempts": 0,
        "next_attempt_at": None,
        "last_error": None,
        "claimed_by": None,
        "claimed_until": None,
        "created_at": now,
        "finished_at": None,
    }
    # One INSERT ... RETURNING id on the session's connection (every post that is
    # published queues one, so it stays off the unit of work); the object joins the
    # session as loaded, exactly as the row is.
    event_id = db.session.connection().execute(_INSERT_EVENT, values).scalar_one()
    event = NotificationEvent(id=event_id, **values)
    make_transient_to_detached(event)
    db.session.add(event)
    return event


_events = cast(Table, NotificationEvent.__table__)
_INSERT_EVENT = insert(_events).returning(_events.c.id)


def cancel_events(kind: str, subject: Any) -> int:
    """Cancel the pending events of one kind about one subject; returns how many."""
    subject_type, subject_id = subject if isinstance(subject, tuple) else subject_of(subject)
    now = utcnow()
    events = db.session.execute(
        select(NotificationEvent).where(
            NotificationEvent.kind == kind,
            NotificationEvent.subject_type == subject_type,
            NotificationEvent.subject_id == subject_id,
            NotificationEvent.status == EventStatus.PENDING,
        )
    ).scalars()
    count = 0
    for event in events:
        _finish(event, EventStatus.CANCELLED, now)
        count += 1
    db.session.flush()
    return count


def _finish(
    event: NotificationEvent, status: EventStatus, now: datetime, error: str | None = None
) -> None:
    event.status = status
    event.finished_at = now
    event.claimed_by = None
    event.claimed_until = None
    event.next_attempt_at = None
    if error is not None:
        event.last_error = error[:500]


def _max_attempts() -> int:
    return int(current_app.config["NOTIFICATIONS_EVENT_MAX_ATTEMPTS"])


def claim_next_event(worker_id: str, now: datetime | None = None) -> NotificationEvent | None:
    """Claim the earliest due event and count the attempt; the caller commits the claim.

    Due: pending, past ``due_at`` and past ``next_attempt_at`` after a failure, and not
    under another worker's live claim (an expired claim means its worker died: taken
    over). Counting the attempt when claiming means an event that kills its worker every
    time is set aside too, after NOTIFICATIONS_EVENT_MAX_ATTEMPTS.
    """
    now = now or utcnow()
    lease = timedelta(seconds=int(current_app.config["NOTIFICATIONS_CLAIM_LEASE"]))
    due = and_(
        NotificationEvent.status == EventStatus.PENDING,
        NotificationEvent.due_at <= now,
        or_(NotificationEvent.next_attempt_at.is_(None), NotificationEvent.next_attempt_at <= now),
    )
    order = (NotificationEvent.due_at, NotificationEvent.id)
    while True:
        rows = claim_due(NotificationEvent, due, order, worker_id, lease, 1, now=now)
        if not rows:
            return None
        event = rows[0]
        if event.attempts >= _max_attempts():
            # Claimed, never finished, again and again: its handling stops the worker.
            error = event.last_error or "the worker stopped while handling it"
            _finish(
                event,
                EventStatus.FAILED,
                now,
                f"gave up after {event.attempts} attempts: {error}",
            )
            log.error("event %s (%s) set aside: %s", event.id, event.kind, event.last_error)
            db.session.flush()
            continue
        event.attempts += 1
        db.session.flush()
        return event


def run_event_batch(
    event: NotificationEvent, worker_id: str, now: datetime | None = None
) -> EventBatch:
    """Hand a claimed event to its kind's handler for one batch; flushes, may raise."""
    now = now or utcnow()
    handler = handler_for(event.kind)
    if handler is None:
        # Never dropped in silence: the status command lists it with this error.
        error = f"no handler for kind {event.kind}"
        log.error("event %s: %s", event.id, error)
        _finish(event, EventStatus.FAILED, now, error)
        db.session.flush()
        return EventBatch()
    batch = handler(event, now)
    event.attempts = 0
    event.last_error = None
    if batch.cancelled:
        _finish(event, EventStatus.CANCELLED, now)
    elif batch.finished:
        _finish(event, EventStatus.DONE, now)
    else:
        event.claimed_by = None
        event.claimed_until = None
    db.session.flush()
    return batch


def record_event_failure(
    event_id: int, worker_id: str, error: str, now: datetime | None = None
) -> EventStatus | None:
    """After a handler raised (and the batch was rolled back): retry later, or give up."""
    now = now or utcnow()
    event = db.session.get(NotificationEvent, event_id)
    if event is None or event.status != EventStatus.PENDING or event.claimed_by != worker_id:
        return None  # someone else decided meanwhile (cancelled, or our lease ran out)
    if event.attempts >= _max_attempts():
        _finish(event, EventStatus.FAILED, now, f"gave up after {event.attempts} attempts: {error}")
        log.error("event %s (%s) set aside: %s", event.id, event.kind, event.last_error)
    else:
        event.next_attempt_at = now + retry_delay(event.attempts)
        event.last_error = error[:500]
        event.claimed_by = None
        event.claimed_until = None
    db.session.flush()
    return event.status
