"""Reflection threads: writing, editing, deleting and reading posts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import ColumnElement, and_, case, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, load_only

from forum.accounts.models import Role, User
from forum.courses.models import Prompt
from forum.database import utcnow
from forum.extensions import db
from forum.markup import render_markdown
from forum.service_errors import PermissionDenied, ServiceError
from forum.signals import (
    Hold,
    post_created,
    post_edited,
    post_published,
    post_status_changed,
    sender,
)
from forum.text import clean_multiline
from forum.threads.models import Post, PostRevision, PostStatus

IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# Statuses everyone sees in a thread; deleted, removed and hidden posts show as a
# placeholder (a hidden post's text only to its author and moderators: _post.html).
PUBLIC_STATUSES = (PostStatus.VISIBLE, PostStatus.DELETED, PostStatus.REMOVED, PostStatus.HIDDEN)


class PostError(ServiceError):
    """A rule about posts was broken; the message is meant for the person."""


class PostPermissionError(PostError, PermissionDenied):
    """The acting user may not do this to this post."""


# Who may move a post into each status: its author may only delete it; everything else
# is a moderator's decision (or the system's, actor None: a hold rule).
AUTHOR_STATUSES = frozenset({PostStatus.DELETED})
FINAL_STATUSES = frozenset({PostStatus.DELETED})


@dataclass(frozen=True)
class ThreadPage:
    posts: list[Post]
    page: int
    pages: int
    total: int


def _check_can_write(user: User) -> None:
    if not user.is_authenticated:
        raise PostPermissionError("Please log in to post.")
    if not user.is_confirmed:
        raise PostPermissionError("Please confirm your email address before posting.")
    if user.is_suspended:
        raise PostPermissionError("Your account can't post at the moment.")


def _clean_body(body: str | None) -> str:
    text = clean_multiline(body).strip()
    limit = current_app.config["POST_MAX_CHARS"]
    if not text:
        raise PostError("Please write something before posting.", field="body")
    if len(text) > limit:
        raise PostError(
            f"Your reflection is {len(text):,} characters long; the limit is {limit:,}. "
            "Please shorten it and post again.",
            field="body",
        )
    return text


def _adjust_thread_counts(prompt_id: int, delta: int, activity_at=None) -> None:
    # One atomic UPDATE: concurrent writers serialise on the row and no count is lost.
    values = {"post_count": Prompt.post_count + delta}
    if activity_at is not None:
        values["last_post_at"] = case(
            (
                or_(Prompt.last_post_at.is_(None), Prompt.last_post_at < activity_at),
                activity_at,
            ),
            else_=Prompt.last_post_at,
        )
    db.session.execute(update(Prompt).where(Prompt.id == prompt_id).values(**values))


def find_post_by_idempotency_key(author: User, key: str) -> Post | None:
    return db.session.execute(
        db.select(Post).filter_by(author_id=author.id, idempotency_key=key)
    ).scalar_one_or_none()


def create_post(
    author: User,
    prompt: Prompt,
    body: str,
    parent: Post | None = None,
    idempotency_key: str | None = None,
) -> tuple[Post, bool]:
    """Write a reflection; returns (post, created). A repeated form returns the first post."""
    _check_can_write(author)
    if idempotency_key is not None and not IDEMPOTENCY_KEY_RE.match(idempotency_key):
        raise PostError(
            "This form is out of date. Please reload the page and post again.", field="body"
        )
    if idempotency_key:
        existing = find_post_by_idempotency_key(author, idempotency_key)
        if existing is not None:
            return existing, False
    text = _clean_body(body)
    if parent is not None and (parent.prompt_id != prompt.id or not parent.is_visible):
        raise PostError("The post you are replying to is no longer available.", field="body")

    rendered = render_markdown(text)
    now = utcnow()
    post = Post(
        prompt_id=prompt.id,
        author_id=author.id,
        parent_id=parent.id if parent else None,
        status=PostStatus.VISIBLE,
        idempotency_key=idempotency_key,
        created_at=now,
    )
    post.store_rendered(rendered)
    post.prompt = prompt
    post.author = author
    post.parent = parent
    try:
        with db.session.begin_nested():
            db.session.add(post)
            db.session.flush()
    except IntegrityError:
        # Another request with the same form won the race; give back its post.
        existing = find_post_by_idempotency_key(author, idempotency_key or "")
        if existing is None:
            raise
        return existing, False

    # Every receiver answers before anything is decided, so which extension loaded first
    # can't matter: one Hold from any of them keeps the post from readers.
    holds = [
        answer
        for _receiver, answer in post_created.send(sender(), post=post)
        if isinstance(answer, Hold)
    ]
    if holds:
        post.status = PostStatus.HELD
        db.session.flush()
        return post, True
    _publish(post, author, now)
    return post, True


def _publish(post: Post, actor: User | None, now) -> None:
    """Count a post that readers can now see, and say so once in its life."""
    _adjust_thread_counts(post.prompt_id, +1, post.created_at)
    if post.published_at is None:
        post.published_at = now
        db.session.flush()
        post_published.send(sender(), post=post, actor=actor)
    else:
        db.session.flush()


def change_post_status(
    actor: User | None, post: Post, new_status: PostStatus, reason: str | None = None
) -> Post:
    """The one way a post's visibility changes after creation: checks, counts, signals.

    Authors may only delete their own posts; holding, hiding, removing, approving and
    restoring are for moderators (or the system, with ``actor`` None). Counts follow
    visibility, ``post_published`` is sent the first time readers can see the post, and
    ``post_status_changed`` on every change.
    """
    new_status = PostStatus(new_status)
    old_status = post.status
    if new_status == old_status:
        return post
    if old_status in FINAL_STATUSES:
        raise PostError("This post has been deleted and can't be changed.")
    if new_status in AUTHOR_STATUSES:
        if actor is None or not actor.is_authenticated or actor.id != post.author_id:
            raise PostPermissionError("Only the author can delete this post.")
    elif actor is not None and not actor.has_role(Role.MODERATOR):
        raise PostPermissionError("Only a moderator can change whether this post is shown.")

    now = utcnow()
    post.status = new_status
    if new_status == PostStatus.DELETED:
        post.deleted_at = now
    was_visible = old_status == PostStatus.VISIBLE
    if was_visible:
        _adjust_thread_counts(post.prompt_id, -1)
        db.session.flush()
    elif new_status == PostStatus.VISIBLE:
        _publish(post, actor, now)
    else:
        db.session.flush()
    post_status_changed.send(
        sender(),
        post=post,
        old_status=old_status,
        new_status=new_status,
        actor=actor,
        reason=reason,
    )
    return post


def _check_author(actor: User, post: Post) -> None:
    if not actor.is_authenticated or post.author_id != actor.id:
        raise PostPermissionError("Only the author can change this post.")
    if post.status in (PostStatus.DELETED, PostStatus.REMOVED):
        raise PostGone("This post has been deleted and can't be changed.")


class PostGone(PostError):
    """The post was deleted or removed: there is nothing left to change (404)."""

    status = 404


class ThreadPageNotFound(PostError):
    """A page number past the end of a thread (404)."""

    status = 404


NO_SUCH_PAGE = "That page of the thread doesn't exist. Try the first page of the thread."


def edit_post(actor: User, post: Post, body: str) -> Post:
    """Change a post's text, keeping the previous text as a revision."""
    _check_author(actor, post)
    if actor.is_suspended:
        raise PostPermissionError("Your account can't post at the moment.")
    text = _clean_body(body)
    if text == post.body_source:
        return post
    revision = PostRevision(
        post_id=post.id,
        editor_id=actor.id,
        body_source=post.body_source,
        body_html=post.body_html,
        sanitizer_version=post.sanitizer_version,
        created_at=utcnow(),
    )
    db.session.add(revision)
    post.set_body(text)
    post.edited_at = utcnow()
    db.session.flush()
    post_edited.send(sender(), post=post, revision=revision)
    return post


def delete_post(actor: User, post: Post) -> Post:
    """Soft-delete the actor's own post; the thread shows a placeholder in its place."""
    _check_author(actor, post)
    return change_post_status(actor, post, PostStatus.DELETED)


def get_post(post_id: int) -> Post | None:
    return db.session.get(Post, post_id)


def _thread_filter(prompt: Prompt, viewer: User | None):
    # Held posts stay visible to their own author (marked as waiting). A post readers
    # never saw (held, then removed as spam) leaves no placeholder behind.
    shown: ColumnElement[bool] = and_(
        Post.status.in_(PUBLIC_STATUSES),
        or_(Post.status != PostStatus.REMOVED, Post.published_at.is_not(None)),
    )
    if viewer is not None and viewer.is_authenticated:
        shown = or_(shown, Post.author_id == viewer.id)
        if viewer.has_role(Role.MODERATOR):
            shown = Post.id.is_not(None)
    return and_(Post.prompt_id == prompt.id, shown)


def can_view_post(viewer: User | None, post: Post) -> bool:
    """Whether ``viewer`` may see this post in its thread."""
    if post.status in PUBLIC_STATUSES and (
        post.status != PostStatus.REMOVED or post.published_at is not None
    ):
        return True
    if viewer is None or not viewer.is_authenticated:
        return False
    return post.author_id == viewer.id or viewer.has_role(Role.MODERATOR)


def thread_page(prompt: Prompt, viewer: User | None, page: int) -> ThreadPage:
    """One page of a thread, oldest first, in a fixed number of statements.

    Authors and quoted parents come in the same statement as the posts, with only the
    columns the page shows. Pages past the end raise PostError.
    """
    per_page = current_app.config["POSTS_PER_PAGE"]
    if page < 1:
        raise ThreadPageNotFound(NO_SUCH_PAGE)
    author_columns = load_only(User.id, User.display_name)
    parent = joinedload(Post.parent)
    query = (
        db.select(Post)
        .where(_thread_filter(prompt, viewer))
        .options(
            joinedload(Post.author).options(author_columns),
            parent.options(
                load_only(Post.id, Post.status, Post.body_html, Post.author_id, Post.prompt_id)
            ),
            parent.joinedload(Post.author).options(author_columns),
        )
        .order_by(Post.created_at, Post.id)
    )
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    pages = max(1, pagination.pages)
    if page > pages:
        raise ThreadPageNotFound(NO_SUCH_PAGE)
    return ThreadPage(
        posts=list(pagination.items), page=page, pages=pages, total=pagination.total or 0
    )


def page_of_post(post: Post, viewer: User | None) -> int:
    """The thread page on which ``post`` appears for ``viewer``."""
    per_page = current_app.config["POSTS_PER_PAGE"]
    before = db.session.execute(
        db.select(func.count(Post.id)).where(
            _thread_filter(post.prompt, viewer),
            or_(
                Post.created_at < post.created_at,
                and_(Post.created_at == post.created_at, Post.id < post.id),
            ),
        )
    ).scalar_one()
    return before // per_page + 1


def posting_blocked_reason(user: User) -> str | None:
    """Why ``user`` can't write in threads right now, or None if they can."""
    try:
        _check_can_write(user)
    except PostPermissionError as exc:
        return str(exc)
    return None


def can_change_post(actor: User, post: Post) -> bool:
    """Whether ``actor`` may edit or delete ``post`` (its author, while it isn't deleted)."""
    try:
        _check_author(actor, post)
    except PostError:
        return False
    return True


def check_can_change_post(actor: User, post: Post) -> None:
    """Raise PostPermissionError or PostError unless ``actor`` may edit or delete ``post``."""
    _check_author(actor, post)
