"""The ``new_post`` event: one email per subscriber of a post's thread or module, in batches.

Runs in the worker, never in a request. Each call handles one batch and only flushes; the
worker commits after every batch, and the event's cursor makes a crashed worker resume
where the last committed batch ended. Every message is built on its own, so a recipient
whose message can't be built gets a failed outbox row and the others still get theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import exists, literal, or_, select, union_all
from sqlalchemy.orm import aliased

from forum.accounts.models import User
from forum.courses.models import Module, Prompt
from forum.database import utcnow
from forum.extensions import db
from forum.text import clean_line
from forum.threads.models import Post, PostStatus
from notifications.emails import course_list_id, link, render_email
from notifications.events import EventBatch, cancel_events, queue_event
from notifications.models import (
    BouncingAddress,
    Category,
    Delivery,
    NotificationEvent,
    NotificationPreference,
    Subscription,
    SubscriptionMode,
    UnsubscribeScope,
)
from notifications.outbox import Draft, build_outbox_row, insert_outbox_rows
from notifications.unsubscribe import ensure_tokens, footer_for

NEW_POST = "new_post"
MAX_TITLE_CHARS = 120
MAX_NAME_CHARS = 60


def excerpt(text: str, limit: int) -> str:
    """The start of a public post's text, cut at a word boundary."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(None, 1)[0].rstrip(" ,.;:")
    return cut + " …"


def _one_line(text: str, limit: int) -> str:
    # Titles come from course files and names from people: one line, and not too long.
    line = clean_line(text)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def new_post_subject(prompt: Prompt) -> str:
    """A neutral subject: the thread's title, made one line."""
    return f"New reflection in “{_one_line(prompt.title, MAX_TITLE_CHARS)}”"


def reply_subject(replier_name: str, prompt: Prompt) -> str:
    """The subject the author of the post being replied to gets."""
    name = _one_line(replier_name, MAX_NAME_CHARS)
    title = _one_line(prompt.title, MAX_TITLE_CHARS)
    return f"“{name}” replied to your reflection in “{title}”"


def record_new_post(post: Post) -> NotificationEvent | None:
    """Queue the new-post event for a post readers can now see, after the edit window."""
    if post.status != PostStatus.VISIBLE:
        return None
    window = int(current_app.config["NOTIFICATIONS_EDIT_WINDOW"])
    return queue_event(NEW_POST, post, due_at=utcnow() + timedelta(seconds=window))


def cancel_new_post(post: Post) -> int:
    """Cancel a post's pending new-post event (it was held, hidden, removed or deleted).

    Only an optimisation: the handler checks the post again when the event is due.
    """
    return cancel_events(NEW_POST, post)


def _recipients_query(post: Post, prompt: Prompt, cursor: int, limit: int, now: datetime):
    thread_watchers = select(
        Subscription.user_id.label("user_id"),
        literal(UnsubscribeScope.THREAD.value).label("source"),
    ).where(Subscription.prompt_id == prompt.id, Subscription.mode == SubscriptionMode.WATCHING)
    # A thread's own row (muted, digest or watching) beats watching its module.
    thread_row = aliased(Subscription)
    has_thread_row = (
        select(thread_row.id)
        .where(thread_row.prompt_id == prompt.id, thread_row.user_id == Subscription.user_id)
        .exists()
    )
    module_watchers = select(
        Subscription.user_id.label("user_id"),
        literal(UnsubscribeScope.MODULE.value).label("source"),
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


def handle_new_post(event: NotificationEvent, now: datetime) -> EventBatch:
    """The ``new_post`` handler: queue the next batch of emails about one post."""
    batch_size = int(current_app.config["NOTIFICATIONS_FANOUT_BATCH"])
    post = None
    if event.subject_type == Post.__tablename__ and event.subject_id is not None:
        post = db.session.get(Post, event.subject_id)
    if post is None or post.status != PostStatus.VISIBLE:
        # Held, hidden, removed or deleted inside the edit window: never mailed.
        return EventBatch(cancelled=True)
    prompt = post.prompt
    module = prompt.module
    rows = db.session.execute(
        _recipients_query(post, prompt, event.fanout_cursor, batch_size, now)
    ).all()
    if rows:
        _queue_new_post_emails(event, post, prompt, module, rows, now)
        event.fanout_cursor = rows[-1][0]
    return EventBatch(queued=len(rows), finished=len(rows) < batch_size)


def _queue_new_post_emails(
    event: NotificationEvent,
    post: Post,
    prompt: Prompt,
    module: Module,
    rows: Sequence[Any],
    now: datetime,
) -> None:
    config = current_app.config
    subject = new_post_subject(prompt)
    replied_to = post.parent.author_id if post.parent_id and post.parent else None
    to_replied = reply_subject(post.author.display_name, prompt) if replied_to else subject
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
    list_id = course_list_id(module.course)
    built = []
    for uid, email, source, include_excerpts in rows:
        footer = footer_for(uid, source, scope_ids[source], tokens)
        text, html = bodies[include_excerpts is None or bool(include_excerpts)]
        draft = Draft(
            user_id=uid,
            to_address=email,
            category=Category.DISCUSSION,
            dedupe_key=f"event:{event.id}:user:{uid}",
            subject=to_replied if uid == replied_to else subject,
            text=text,
            html=html,
            footer=footer,
            list_unsubscribe_url=footer.scope_url,
            list_id=list_id,
        )
        built.append(build_outbox_row(draft, now))
    insert_outbox_rows(built)
