"""Listening to the core: holds for new posts, revised posts back to the queue, and a
check before anyone writes (sanctions, locked threads, blocked words).

Each receiver runs inside the sender's transaction and flushes at most.
"""

from __future__ import annotations

from flask import Flask, request
from flask_login import current_user

from forum import signals
from forum.courses.services import SLUG_RE, find_prompt
from forum.extensions import db
from forum.signals import Hold
from forum.threads.models import Post
from moderation import services

# The core's endpoints that write in a thread, and what identifies the thread in each.
WRITING_ENDPOINTS = frozenset({"threads.new_post", "threads.reply", "threads.edit_post"})


def on_post_created(app: Flask, post: Post, **_extra) -> Hold | None:
    return services.hold_for_new_post(post)


def on_post_edited(app: Flask, post: Post, **_extra) -> None:
    services.back_to_queue_after_edit(post)


def _prompt_id_of_request() -> int | None:
    args = request.view_args or {}
    if request.endpoint == "threads.edit_post":
        return None  # a lock stops new writing; authors may still correct their own
    if "post_id" in args:
        post = db.session.get(Post, args["post_id"])
        return post.prompt_id if post is not None else None
    slugs = (args.get("course_slug"), args.get("module_slug"), args.get("prompt_slug"))
    if all(isinstance(s, str) and SLUG_RE.fullmatch(s) for s in slugs):
        prompt = find_prompt(*slugs)  # type: ignore[arg-type]
        return prompt.id if prompt is not None else None
    return None


def check_writing() -> None:
    """Before the core's writing pages: say why moderation won't take this post."""
    if request.endpoint not in WRITING_ENDPOINTS or not current_user.is_authenticated:
        return
    if current_user.is_suspended:
        # Why and until when, on the form pages too; the core's own check follows.
        services.check_posting_allowed(current_user, None, None)
        return
    if request.method != "POST":
        return
    services.check_posting_allowed(current_user, _prompt_id_of_request(), request.form.get("body"))


def connect(app: Flask) -> None:
    """Connect the receivers for this app only (tests build many apps)."""
    pairs = [
        (signals.post_created, on_post_created),
        (signals.post_edited, on_post_edited),
    ]
    for signal, receiver in pairs:
        signal.connect(receiver, sender=app, weak=False)
    app.extensions["moderation_receivers"] = pairs
    app.before_request(check_writing)
