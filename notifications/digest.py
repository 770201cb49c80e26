"""The daily digest: one email per user, new posts grouped by module and thread.

Safe to run twice: a user's digest for a day has the unique key ``digest:<uid>:<date>``,
and a user who already has one for today is skipped without moving their cursor.
Everything here flushes only: the ``digest`` command commits once, the worker's digest
job (in ``notifications.worker``) commits every few users.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_, select

from forum.accounts.models import User
from forum.courses.models import Prompt
from forum.database import utcnow
from forum.extensions import db
from forum.text import clean_line
from forum.threads.models import Post, PostStatus
from notifications.emails import link, render_email
from notifications.fanout import excerpt
from notifications.models import (
    Category,
    Delivery,
    NotificationPreference,
    OutboxMessage,
    Subscription,
    SubscriptionMode,
    UnsubscribeScope,
)
from notifications.outbox import queue_email
from notifications.preferences import discussion_email_allowed, get_preferences
from notifications.unsubscribe import ensure_tokens, unsubscribe_url

MAX_POSTS_PER_DIGEST = 200


@dataclass
class DigestThread:
    title: str
    url: str
    unsubscribe_url: str
    posts: list[dict] = field(default_factory=list)


@dataclass
class DigestModule:
    title: str
    threads: list[DigestThread] = field(default_factory=list)


def digest_user_ids() -> list[int]:
    """Users who may get a digest: a digest-mode subscription, or delivery = digest."""
    by_subscription = select(Subscription.user_id).where(
        Subscription.mode == SubscriptionMode.DIGEST
    )
    by_preference = select(NotificationPreference.user_id).where(
        NotificationPreference.delivery == Delivery.DIGEST
    )
    ids = set(db.session.execute(by_subscription).scalars())
    ids.update(db.session.execute(by_preference).scalars())
    return sorted(ids)


def _wanted_modes(delivery: str) -> set[SubscriptionMode]:
    if delivery == Delivery.DIGEST:
        return {SubscriptionMode.WATCHING, SubscriptionMode.DIGEST}
    return {SubscriptionMode.DIGEST}


def _digest_posts(user: User, delivery: str, since: datetime, until: datetime) -> list[Post]:
    subs = db.session.execute(select(Subscription).where(Subscription.user_id == user.id)).scalars()
    thread_modes: dict[int, SubscriptionMode] = {}
    module_modes: dict[int, SubscriptionMode] = {}
    for sub in subs:
        if sub.prompt_id is not None:
            thread_modes[sub.prompt_id] = sub.mode
        elif sub.module_id is not None:
            module_modes[sub.module_id] = sub.mode
    wanted = _wanted_modes(delivery)
    threads = [pid for pid, mode in thread_modes.items() if mode in wanted]
    modules = [mid for mid, mode in module_modes.items() if mode in wanted]
    if not threads and not modules:
        return []
    published = func.coalesce(Post.published_at, Post.created_at)
    posts = db.session.execute(
        select(Post)
        .join(Prompt, Prompt.id == Post.prompt_id)
        .where(
            Post.status == PostStatus.VISIBLE,
            Post.author_id != user.id,
            # When readers could first see it: a held post approved later still comes once.
            published > since,
            published <= until,
            or_(Post.prompt_id.in_(threads or [-1]), Prompt.module_id.in_(modules or [-1])),
        )
        .order_by(published, Post.id)
        .limit(MAX_POSTS_PER_DIGEST)
    ).scalars()
    chosen = []
    for post in posts:
        # The thread's own row wins over the module's (a muted thread stays quiet).
        mode = thread_modes.get(post.prompt_id) or module_modes.get(post.prompt.module_id)
        if mode in wanted:
            chosen.append(post)
    return chosen


def _group(user_id: int, posts: list[Post], with_excerpts: bool) -> list[DigestModule]:
    tokens = ensure_tokens((user_id, UnsubscribeScope.THREAD, p.prompt_id) for p in posts)
    limit = int(current_app.config["NOTIFICATIONS_EXCERPT_CHARS"])
    modules: dict[int, DigestModule] = {}
    threads: dict[int, DigestThread] = {}
    order = sorted(posts, key=lambda p: (p.prompt.module.position, p.prompt.position, p.id))
    for post in order:
        prompt = post.prompt
        module = modules.setdefault(prompt.module_id, DigestModule(clean_line(prompt.module.title)))
        thread = threads.get(prompt.id)
        if thread is None:
            thread = DigestThread(
                title=clean_line(prompt.title),
                url=link("threads.permalink", post_id=post.id),
                unsubscribe_url=unsubscribe_url(
                    tokens[(user_id, UnsubscribeScope.THREAD, prompt.id)]
                ),
            )
            threads[prompt.id] = thread
            module.threads.append(thread)
        thread.posts.append(
            {
                "author_name": clean_line(post.author.display_name),
                "url": link("threads.permalink", post_id=post.id),
                "excerpt": excerpt(post.body_source, limit) if with_excerpts else None,
            }
        )
    return list(modules.values())


def queue_digest_for(user: User, now: datetime | None = None) -> OutboxMessage | None:
    """Queue today's digest for one user, if there is anything new; flushes only."""
    now = now or utcnow()
    key = f"digest:{user.id}:{now.date().isoformat()}"
    if db.session.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)).first():
        return None
    pref = get_preferences(user)
    if not discussion_email_allowed(user, pref):
        return None
    window = timedelta(seconds=int(current_app.config["NOTIFICATIONS_EDIT_WINDOW"]))
    until = now - window  # posts still inside their edit window wait for tomorrow
    since = pref.last_digest_at or (now - timedelta(hours=24) - window)
    posts = _digest_posts(user, pref.delivery, since, until)
    if pref not in db.session:
        db.session.add(pref)
    pref.last_digest_at = until
    if not posts:
        db.session.flush()
        return None
    modules = _group(user.id, posts, bool(pref.include_excerpts))
    count = len(posts)
    subject = f"Your daily digest: {count} new reflection{'s' if count != 1 else ''}"
    text, html = render_email(
        "digest", modules=modules, count=count, site_name=current_app.config["SITE_NAME"]
    )
    message = queue_email(
        user,
        subject,
        text,
        html,
        category=Category.DIGEST,
        dedupe_key=key,
        unsubscribe_scope=(UnsubscribeScope.ALL_DISCUSSION, 0),
    )
    db.session.flush()
    return message


def queue_digests(now: datetime | None = None, user_ids: Iterable[int] | None = None) -> int:
    """Queue today's digest for each of ``user_ids`` (default: all who may get one)."""
    now = now or utcnow()
    queued = 0
    for user_id in digest_user_ids() if user_ids is None else user_ids:
        user = db.session.get(User, user_id)
        if user is not None and queue_digest_for(user, now) is not None:
            queued += 1
    return queued
