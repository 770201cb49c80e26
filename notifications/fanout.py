"""Fan-out: turning one due new-post event into one outbox row per subscriber, in batches.

Runs in the worker, never in a request. Each call handles one batch and only flushes; the
worker commits after every batch, and the event's cursor makes a crashed worker resume
where the last committed batch ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, exists, literal, or_, select, union_all
from sqlalchemy.orm import aliased

from forum.accounts.models import User
from forum.courses.models import Module, Prompt
from forum.database import utcnow
from forum.extensions import db
from forum.text import clean_line
from forum.threads.models import Post, PostStatus
from notifications.emails import (
    OutgoingMail,
    link,
    new_message_id,
    raw_message,
    render_email,
    wrap_bodies,
)
from notifications.models import (
    BouncingAddress,
    Category,
    Delivery,
    EventStatus,
    NotificationEvent,
    NotificationPreference,
    OutboxMessage,
    OutboxStatus,
    Subscription,
    SubscriptionMode,
    UnsubscribeScope,
)
from notifications.services import ensure_tokens, footer_for, insert_ignoring_duplicates


@dataclass(frozen=True)
class BatchResult:
    event_id: int
    queued: int  # rows offered to the outbox (duplicates are ignored by the unique key)
    finished: bool


def excerpt(text: str, limit: int) -> str:
    """The start of a public post's text, cut at a word boundary."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(None, 1)[0].rstrip(" ,.;:")
    return cut + " …"


def new_post_subject(prompt: Prompt) -> str:
    """A neutral subject: the thread's title, made one line (titles come from course files)."""
    title = clean_line(prompt.title)
    if len(title) > 120:
        title = title[:119].rstrip() + "…"
    return f"New reflection in “{title}”"


def _claim_due_event(now: datetime) -> NotificationEvent | None:
    query = (
        select(NotificationEvent)
        .where(NotificationEvent.status == EventStatus.PENDING, NotificationEvent.due_at <= now)
        .order_by(NotificationEvent.due_at, NotificationEvent.id)
        .limit(1)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        # Several workers: each takes a different event; the row stays locked for the batch.
        query = query.with_for_update(skip_locked=True)
    return db.session.execute(query).scalar_one_or_none()


def _recipients_query(post: Post, prompt: Prompt, cursor: int, limit: int, now: datetime):
    thread_watchers = select(
        Subscription.user_id.label("user_id"), literal(UnsubscribeScope.THREAD).label("source")
    ).where(Subscription.prompt_id == prompt.id, Subscription.mode == SubscriptionMode.WATCHING)
    # A thread's own row (muted, digest or watching) beats watching its module.
    thread_row = aliased(Subscription)
    has_thread_row = (
        select(thread_row.id)
        .where(thread_row.prompt_id == prompt.id, thread_row.user_id == Subscription.user_id)
        .exists()
    )
    module_watchers = select(
        Subscription.user_id.label("user_id"), literal(UnsubscribeScope.MODULE).label("source")
    ).where(
        Subscription.module_id == prompt.module_id,
        Subscription.mode == SubscriptionMode.WATCHING,
        ~has_thread_row,
    )
    watchers = union_all(thread_watchers, module_watchers).subquery("watchers")
    pref = NotificationPreference
    return (
        select(User.id, User.email, watchers.c.source, pref.include_excerpts)
        .join(watchers, watchers.c.user_id == User.id)
        .outerjoin(pref, pref.user_id == User.id)
        .where(
            User.id > cursor,
            User.id != post.author_id,
            User.email_confirmed_at.is_not(None),
            or_(User.suspended_until.is_(None), User.suspended_until <= now),
            or_(pref.delivery.is_(None), pref.delivery == Delivery.IMMEDIATE),
            or_(pref.paused_until.is_(None), pref.paused_until <= now),
            ~exists().where(BouncingAddress.email == User.email),
        )
        .order_by(User.id)
        .limit(limit)
    )


def _finish(event: NotificationEvent, status: str, now: datetime) -> None:
    event.status = status
    event.finished_at = now


def fan_out_batch(now: datetime | None = None, batch_size: int | None = None) -> BatchResult | None:
    """Fan out the next batch of the earliest due event; None when nothing is due."""
    now = now or utcnow()
    config = current_app.config
    batch_size = batch_size or int(config["NOTIFICATIONS_FANOUT_BATCH"])
    event = _claim_due_event(now)
    if event is None:
        return None
    post = db.session.get(Post, event.post_id) if event.post_id else None
    if event.kind != "new_post" or post is None or post.status != PostStatus.VISIBLE:
        # Held, hidden, removed or deleted inside the edit window: never mailed.
        _finish(event, EventStatus.CANCELLED, now)
        db.session.flush()
        return BatchResult(event.id, 0, True)

    prompt = db.session.get(Prompt, post.prompt_id)
    module = db.session.get(Module, prompt.module_id)
    rows = db.session.execute(
        _recipients_query(post, prompt, event.fanout_cursor, batch_size, now)
    ).all()
    if rows:
        _queue_new_post_emails(event, post, prompt, module, rows, now)
        event.fanout_cursor = rows[-1][0]
    finished = len(rows) < batch_size
    if finished:
        _finish(event, EventStatus.DONE, now)
    db.session.flush()
    return BatchResult(event.id, len(rows), finished)


def _queue_new_post_emails(event, post, prompt, module, rows, now) -> None:
    config = current_app.config
    subject = new_post_subject(prompt)
    context = {
        "prompt_title": clean_line(prompt.title),
        "module_title": clean_line(module.title),
        "author_name": clean_line(post.author.display_name),
        "post_url": link("threads.permalink", post_id=post.id),
        "site_name": config["SITE_NAME"],
    }
    # Public post text only, and the CURRENT text: edits in the window are included.
    post_excerpt = excerpt(post.body_source, int(config["NOTIFICATIONS_EXCERPT_CHARS"]))
    bodies = {
        True: render_email("new_post", excerpt=post_excerpt, **context),
        False: render_email("new_post", excerpt=None, **context),
    }
    scope_ids = {UnsubscribeScope.THREAD: prompt.id, UnsubscribeScope.MODULE: module.id}
    keys = set()
    for uid, _email, source, _ex in rows:
        keys.add((uid, UnsubscribeScope.ALL_DISCUSSION, 0))
        keys.add((uid, source, scope_ids[source]))
    tokens = ensure_tokens(keys)
    stamp = now.timestamp()
    values = []
    for uid, email, source, include_excerpts in rows:
        scope_id = scope_ids[source]
        footer = footer_for(uid, source, scope_id, tokens)
        text, html_inner = bodies[include_excerpts is None or bool(include_excerpts)]
        text_body, html_body = wrap_bodies(text, html_inner, footer)
        mail = OutgoingMail(
            id=0,
            to_address=email,
            category=Category.DISCUSSION,
            message_id=new_message_id(),
            subject=subject,
            text_body=text_body,
            html_body=html_body,
            list_unsubscribe_url=footer.scope_url,
        )
        values.append(
            {
                "user_id": uid,
                "to_address": email,
                "category": Category.DISCUSSION,
                "dedupe_key": f"event:{event.id}:user:{uid}",
                "message_id": mail.message_id,
                "subject": subject,
                "text_body": text_body,
                "html_body": html_body,
                "list_unsubscribe_url": footer.scope_url,
                "raw_message": raw_message(mail, stamp),
                "status": OutboxStatus.QUEUED,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    db.session.execute(insert_ignoring_duplicates(OutboxMessage), values)


def cancel_events_for_post(post_id: int) -> int:
    """Cancel pending events of a post that is no longer public (an optimisation only)."""
    now = utcnow()
    events = db.session.execute(
        select(NotificationEvent).where(
            and_(
                NotificationEvent.post_id == post_id,
                NotificationEvent.status == EventStatus.PENDING,
            )
        )
    ).scalars()
    count = 0
    for event in events:
        _finish(event, EventStatus.CANCELLED, now)
        count += 1
    db.session.flush()
    return count
