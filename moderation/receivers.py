"""Listening to the core: holds for new posts, revised posts back to the queue, and a
check before anyone writes (sanctions, locked threads, blocked words).

Each receiver runs inside the sender's transaction and flushes at most.
"""

from __future__ import annotations

from flask import Flask, g, has_request_context, request
from flask_login import current_user

from forum import signals
from forum.accounts.models import Role
from forum.courses.services import SLUG_RE
from forum.extensions import db
from forum.signals import Hold
from forum.threads.models import Post
from moderation import services
from moderation.posting_rules import PostingRules, read_posting_rules

# The core's endpoints that write in a thread, and what identifies the thread in each.
WRITING_ENDPOINTS = frozenset({"threads.new_post", "threads.reply", "threads.edit_post"})


# Where check_writing leaves the rules it read, with the request they belong to.
_RULES_KEY = "moderation_posting_rules"


def _rules_read_by_this_request() -> PostingRules | None:
    # Taken once, and only by the request that read them (a test's app context can
    # outlive several requests).
    if not has_request_context():
        return None
    kept = g.pop(_RULES_KEY, None)
    if kept is None or kept[0] is not request._get_current_object():  # type: ignore[attr-defined]
        return None
    return kept[1]


def on_post_created(app: Flask, post: Post, **_extra) -> Hold | None:
    # The lock, watched words and the author's recent posts elsewhere that check_writing
    # read a moment ago in this transaction: the holds don't read them again.
    return services.hold_for_new_post(post, rules=_rules_read_by_this_request())


def on_post_edited(app: Flask, post: Post, **_extra) -> None:
    services.back_to_queue_after_edit(post)


def _rules_of_request() -> PostingRules:
    """The lock of the thread this request writes in and the watched words (for a new
    post or a reply, the author's recent posts in other threads too): one statement.

    A new post's thread is found by its slugs in that same statement (the view then
    loads the prompt itself); a reply's through its parent, which the view reuses.
    """
    args = request.view_args or {}
    if request.endpoint == "threads.edit_post":
        # A lock stops new writing; authors may still correct their own.
        return read_posting_rules()
    # A new post or a reply: the author's recent posts elsewhere come along, for the
    # repeated-post hold.
    author_id, since = current_user.id, services.repeats_since()
    if "post_id" in args:
        post = db.session.get(Post, args["post_id"])
        prompt_id = post.prompt_id if post is not None else None
        return read_posting_rules(prompt_id, author_id=author_id, since=since)
    slugs = (args.get("course_slug"), args.get("module_slug"), args.get("prompt_slug"))
    if all(isinstance(s, str) and SLUG_RE.fullmatch(s) for s in slugs):
        return read_posting_rules(thread=slugs, author_id=author_id, since=since)  # type: ignore[arg-type]
    return read_posting_rules()


def check_writing() -> None:
    """Before the core's writing pages: say why moderation won't take this post."""
    if request.endpoint not in WRITING_ENDPOINTS or not current_user.is_authenticated:
        return
    if current_user.is_suspended:
        # Why and until when, on the form pages too; the core's own check follows.
        services.check_posting_allowed(current_user, None, None)
        return
    if request.method != "POST" or current_user.has_role(Role.MODERATOR):
        return  # moderators are neither stopped by a lock nor by blocked words
    rules = _rules_of_request()
    services.check_posting_allowed(
        current_user, rules.prompt_id, request.form.get("body"), rules=rules
    )
    # The holds of the post this request writes use them too (on_post_created).
    setattr(g, _RULES_KEY, (request._get_current_object(), rules))  # type: ignore[attr-defined]


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
