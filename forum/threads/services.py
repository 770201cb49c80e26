"""Reflection threads: writing, editing, deleting and reading posts."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from flask import current_app, g, has_request_context
from sqlalchemy import ColumnElement, Table, and_, bindparam, case, func, or_, text, update
from sqlalchemy.orm import joinedload, load_only, make_transient_to_detached

from forum import cache
from forum.accounts.models import Role, User
from forum.courses.models import Prompt
from forum.database import UTCDateTime, utcnow
from forum.extensions import db
from forum.markup import RenderedMarkup, render_markdown
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
# placeholder (a hidden post's text only to its author and moderators: threads/thread.html).
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


def touch_thread(prompt_id: int) -> None:
    """Bump the thread's data version: cached pages of it are never served again.

    Every change a reader of the thread could see calls this (or _adjust_thread_counts,
    which bumps too), in the same transaction as the change.
    """
    _update_thread(_TOUCH_THREAD, {"thread_id": prompt_id})


def touch_threads_by_author(author_id: int) -> None:
    """Bump every thread ``author_id`` wrote in (their name, shown by each post, changed)."""
    db.session.execute(
        update(Prompt)
        .where(Prompt.id.in_(db.select(Post.prompt_id).where(Post.author_id == author_id)))
        .values(version=Prompt.version + 1)
    )


_prompts = cast(Table, Prompt.__table__)
# Built once (building an UPDATE costs more than running it), and run on the connection:
# Core statements, without the ORM's bulk-update bookkeeping; _update_thread keeps the
# session's copy of the prompt honest instead.
_TOUCH_THREAD = (
    update(_prompts)
    .where(_prompts.c.id == bindparam("thread_id"))
    .values(version=_prompts.c.version + 1)
)
_COUNT_THREAD = (
    update(_prompts)
    .where(_prompts.c.id == bindparam("thread_id"))
    .values(post_count=_prompts.c.post_count + bindparam("delta"), version=_prompts.c.version + 1)
)
_activity_at = bindparam("activity_at", type_=UTCDateTime())
# One atomic UPDATE: concurrent writers serialise on the row and no count is lost.
_COUNT_THREAD_ACTIVITY = _COUNT_THREAD.values(
    last_post_at=case(
        (
            or_(_prompts.c.last_post_at.is_(None), _prompts.c.last_post_at < _activity_at),
            _activity_at,
        ),
        else_=_prompts.c.last_post_at,
    )
)
_THREAD_COUNTERS = ("post_count", "version", "last_post_at")


def _update_thread(statement, params: dict) -> None:
    """Run one of the UPDATEs of a thread's row above, for ``params["thread_id"]``."""
    session = db.session
    # Changes made to objects so far are written first, as an ORM UPDATE would.
    session.flush()
    session.connection().execute(statement, params)
    # A Prompt this session already holds reads its new counters on next use.
    loaded = session.identity_map.get(session.identity_key(Prompt, params["thread_id"]))
    if loaded is not None:
        session.expire(loaded, _THREAD_COUNTERS)


def _adjust_thread_counts(prompt_id: int, delta: int, activity_at=None) -> None:
    if activity_at is None:
        _update_thread(_COUNT_THREAD, {"thread_id": prompt_id, "delta": delta})
    else:
        _update_thread(
            _COUNT_THREAD_ACTIVITY,
            {"thread_id": prompt_id, "delta": delta, "activity_at": activity_at},
        )


def prerender_body(body: str | None) -> None:
    """Render and sanitise a submitted body before the request's first statement.

    Called by a before_request hook (forum/threads/__init__.py) for the writing endpoints,
    ahead of every hook that reads the database: on SQLite the first statement of a POST
    takes the write lock (BEGIN IMMEDIATE), and Markdown plus the sanitiser must not run
    while it is held. ``_render`` picks the result up; a body that isn't valid is left to
    the service to refuse.
    """
    try:
        text = _clean_body(body)
    except PostError:
        return
    g.hearth_prerendered = render_markdown(text)


def _render(text: str) -> RenderedMarkup:
    if has_request_context():
        done: RenderedMarkup | None = g.pop("hearth_prerendered", None)
        if done is not None and done.source == text:
            return done
    return render_markdown(text)


def find_post_by_idempotency_key(author: User, key: str) -> Post | None:
    return db.session.execute(
        db.select(Post).filter_by(author_id=author.id, idempotency_key=key)
    ).scalar_one_or_none()


# Every column of a new post; the INSERT sets them all, so the object made from the same
# values (create_post) is exactly the row.
_POST_COLUMNS = tuple(column.name for column in Post.__table__.columns if column.name != "id")
# INSERT ... ON CONFLICT (author, key) DO NOTHING RETURNING id, the same text on SQLite
# and PostgreSQL. A repeated form inserts nothing and says so by returning no row, so the
# common case is one statement: no look-up first, no savepoint around it. Written as text
# because the dialects' ON CONFLICT constructs can't be cached: SQLAlchemy would compile
# them again for every post.
_INSERT_POST = (
    text(
        # Names from the model, values all bound: nothing from a request is in the text.
        f"INSERT INTO {Post.__tablename__} ({', '.join(_POST_COLUMNS)}) "  # noqa: S608
        f"VALUES ({', '.join(':' + name for name in _POST_COLUMNS)}) "
        "ON CONFLICT (author_id, idempotency_key) DO NOTHING RETURNING id"
    )
    .bindparams(*(bindparam(name, type_=Post.__table__.c[name].type) for name in _POST_COLUMNS))
    .columns(Post.__table__.c.id)
)


def _insert_post(values: dict) -> int | None:
    """Insert one post row; its id, or None if the author already sent this form."""
    return db.session.connection().execute(_INSERT_POST, values).scalar_one_or_none()


def create_post(
    author: User,
    prompt: Prompt,
    body: str,
    parent: Post | None = None,
    idempotency_key: str | None = None,
) -> tuple[Post, bool]:
    """Write a reflection; returns (post, created). A repeated form returns the first post.

    A fixed number of statements whatever the thread's size: the INSERT, then what the
    receivers of ``post_created``/``post_published`` need, then the thread's counts. The
    body was rendered before the request's first statement (``prerender_body``).
    """
    _check_can_write(author)
    if idempotency_key is not None and not IDEMPOTENCY_KEY_RE.match(idempotency_key):
        raise PostError(
            "This form is out of date. Please reload the page and post again.", field="body"
        )
    try:
        text = _clean_body(body)
        if parent is not None and (parent.prompt_id != prompt.id or not parent.is_visible):
            raise PostError("The post you are replying to is no longer available.", field="body")
    except PostError:
        # A repeated form gets its first post back even if it couldn't be written now.
        existing = (
            find_post_by_idempotency_key(author, idempotency_key) if idempotency_key else None
        )
        if existing is None:
            raise
        return existing, False

    rendered = _render(text)
    now = utcnow()
    # Written as published: a receiver that holds it takes that back below, in the same
    # transaction, so no reader ever sees it (and the common case needs no UPDATE).
    values = {
        "prompt_id": prompt.id,
        "author_id": author.id,
        "parent_id": parent.id if parent is not None else None,
        "status": PostStatus.VISIBLE,
        "idempotency_key": idempotency_key,
        "created_at": now,
        "published_at": now,
        "edited_at": None,
        "deleted_at": None,
        "body_source": rendered.source,
        "body_html": rendered.html,
        "sanitizer_version": rendered.sanitizer_version,
    }
    post_id = _insert_post(values)
    if post_id is None:
        # The same form again (a double click, or another request that won the race).
        existing = find_post_by_idempotency_key(author, idempotency_key or "")
        if existing is None:  # pragma: no cover - ON CONFLICT only fires on that key
            raise PostError("This post couldn't be saved. Please post again.", field="body")
        return existing, False
    post = Post(id=post_id, **values)
    post.prompt = prompt
    post.author = author
    post.parent = parent
    # The row is written: the object joins the session as loaded, with nothing to flush.
    make_transient_to_detached(post)
    db.session.add(post)

    # Every receiver answers before anything is decided, so which extension loaded first
    # can't matter: one Hold from any of them keeps the post from readers.
    holds = [
        answer
        for _receiver, answer in post_created.send(sender(), post=post)
        if isinstance(answer, Hold)
    ]
    if holds:
        post.status = PostStatus.HELD
        post.published_at = None
        db.session.flush()
        touch_thread(post.prompt_id)
        return post, True
    _adjust_thread_counts(post.prompt_id, +1, now)
    post_published.send(sender(), post=post, actor=author)
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
        touch_thread(post.prompt_id)
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
    post.store_rendered(_render(text))
    post.edited_at = utcnow()
    db.session.flush()
    touch_thread(post.prompt_id)
    post_edited.send(sender(), post=post, revision=revision)
    return post


def delete_post(actor: User, post: Post) -> Post:
    """Soft-delete the actor's own post; the thread shows a placeholder in its place."""
    _check_author(actor, post)
    return change_post_status(actor, post, PostStatus.DELETED)


def get_post(post_id: int) -> Post | None:
    return db.session.get(Post, post_id)


def _public() -> ColumnElement[bool]:
    # What every reader sees: visible posts, and placeholders for deleted, removed and
    # hidden ones. A post readers never saw (held, then removed as spam) leaves no
    # placeholder behind.
    return and_(
        Post.status.in_(PUBLIC_STATUSES),
        or_(Post.status != PostStatus.REMOVED, Post.published_at.is_not(None)),
    )


def _thread_filter(prompt: Prompt, viewer: User | None):
    # Held posts stay visible to their own author (marked as waiting).
    shown: ColumnElement[bool] = _public()
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


def _is_public(post: Post) -> bool:
    return post.status in PUBLIC_STATUSES and (
        post.status != PostStatus.REMOVED or post.published_at is not None
    )


# Page boundaries of threads, per (prompt id, data version, posts per page), kept in this
# process (per app); the shared cache holds them for the other workers.
_STARTS_MAX = 512


def _course_epoch(prompt: Prompt) -> str | None:
    # When the course row was made: a database made afresh never shares cache entries
    # with an older one. None unless the course came with the prompt (find_prompt).
    module = prompt.__dict__.get("module")
    course = module.__dict__.get("course") if module is not None else None
    return None if course is None else f"{course.id}.{course.created_at.timestamp()}"


def page_starts(prompt: Prompt) -> tuple[list[tuple[datetime, int]], int]:
    """(created_at, id) of the first post of each page, and the number of public posts.

    Pages are cut by the public posts alone: every reader, signed in or not, finds a post
    on the same ``?page=N``; a post only its author or a moderator sees is shown on the
    page whose range it falls in. One statement (a window over the covering index
    ix_posts_thread_order) per data version; pages themselves are then a keyset seek, so
    the last page of a long thread costs what the first does.
    """
    per_page = current_app.config["POSTS_PER_PAGE"]
    key = (prompt.id, prompt.version, per_page)
    known = current_app.extensions.setdefault("hearth_page_starts", {})
    found = known.get(key)
    if found is not None:
        return found
    epoch = _course_epoch(prompt)
    cache_key = f"starts:{epoch}:{prompt.id}:{prompt.version}:{per_page}"
    stored = cache.get(cache_key) if epoch else None
    if stored is not None:
        data = json.loads(stored)
        starts = [(datetime.fromisoformat(at), int(pid)) for at, pid in data["starts"]]
        total = int(data["total"])
    else:
        numbered = (
            db.select(
                Post.created_at,
                Post.id,
                func.row_number().over(order_by=(Post.created_at, Post.id)).label("n"),
                func.count().over().label("total"),
            )
            .where(Post.prompt_id == prompt.id, _public())
            .subquery()
        )
        rows = db.session.execute(
            db.select(numbered.c.created_at, numbered.c.id, numbered.c.total)
            .where((numbered.c.n - 1) % per_page == 0)
            .order_by(numbered.c.created_at, numbered.c.id)
        ).all()
        starts = [(at, pid) for at, pid, _total in rows]
        total = rows[0].total if rows else 0
        data = {"starts": [(at.isoformat(), pid) for at, pid in starts], "total": total}
        if epoch:
            cache.put(cache_key, json.dumps(data).encode())
    if len(known) >= _STARTS_MAX:
        known.clear()
    known[key] = (starts, total)
    return starts, total


def _at_or_after(start: tuple[datetime, int]) -> ColumnElement[bool]:
    at, pid = start
    return or_(Post.created_at > at, and_(Post.created_at == at, Post.id >= pid))


def page_range(prompt: Prompt, page: int) -> tuple[ColumnElement[bool], int]:
    """The keyset condition for ``page`` of the thread, and the number of pages."""
    if page < 1:
        raise ThreadPageNotFound(NO_SUCH_PAGE)
    starts, _total = page_starts(prompt)
    pages = max(1, len(starts))
    if page > pages:
        raise ThreadPageNotFound(NO_SUCH_PAGE)
    conditions: list[ColumnElement[bool]] = [Post.prompt_id == prompt.id]
    if page > 1:
        conditions.append(_at_or_after(starts[page - 1]))
    if page < pages:
        conditions.append(~_at_or_after(starts[page]))
    return and_(*conditions), pages


@functools.cache
def _post_options():
    # Built once: loader options are immutable, and building them costs more than the query.
    author_columns = load_only(User.id, User.display_name)
    parent = joinedload(Post.parent)
    return (
        joinedload(Post.author).options(author_columns),
        parent.options(
            load_only(Post.id, Post.status, Post.body_html, Post.author_id, Post.prompt_id)
        ),
        parent.joinedload(Post.author).options(author_columns),
    )


def own_posts_on_page(prompt: Prompt, viewer: User, page: int) -> ThreadPage:
    """The posts ``viewer`` wrote on one page of the thread (any status), in one statement;
    the rest of the page comes from the post list every signed-in reader shares."""
    in_page, pages = page_range(prompt, page)
    posts = list(
        db.session.execute(
            db.select(Post)
            .where(in_page, Post.author_id == viewer.id)
            .options(*_post_options())
            .order_by(Post.created_at, Post.id)
        )
        .unique()
        .scalars()
    )
    return ThreadPage(posts=posts, page=page, pages=pages, total=page_starts(prompt)[1])


def is_public(post: Post) -> bool:
    """Whether every reader sees this post (or its placeholder) in the thread."""
    return _is_public(post)


def thread_page(prompt: Prompt, viewer: User | None, page: int) -> ThreadPage:
    """One page of a thread, oldest first, in a fixed number of statements.

    Authors and quoted parents come in the same statement as the posts, with only the
    columns the page shows. Pages past the end raise ThreadPageNotFound.
    """
    in_page, pages = page_range(prompt, page)
    query = (
        db.select(Post)
        .where(in_page, _thread_filter(prompt, viewer))
        .options(*_post_options())
        .order_by(Post.created_at, Post.id)
    )
    posts = list(db.session.execute(query).unique().scalars())
    # Public posts in the thread, and those on this page only this viewer may see.
    total = page_starts(prompt)[1] + sum(1 for post in posts if not _is_public(post))
    return ThreadPage(posts=posts, page=page, pages=pages, total=total)


def page_of_post(post: Post, viewer: User | None = None) -> int:
    """The thread page on which ``post`` appears (for every reader who can see it)."""
    per_page = current_app.config["POSTS_PER_PAGE"]
    before = db.session.execute(
        db.select(func.count(Post.id)).where(
            Post.prompt_id == post.prompt_id,
            _public(),
            or_(
                Post.created_at < post.created_at,
                and_(Post.created_at == post.created_at, Post.id < post.id),
            ),
        )
    ).scalar_one()
    if _is_public(post):
        return before // per_page + 1
    # Not public: shown after the public post before it, on that post's page.
    return max(1, -(-before // per_page))


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


def empty_page(prompt: Prompt, page: int) -> ThreadPage:
    """Page ``page`` of the thread with no posts in it: its place among the pages."""
    _in_page, pages = page_range(prompt, page)
    return ThreadPage(posts=[], page=page, pages=pages, total=page_starts(prompt)[1])


def posts_by_id(ids: list[int]) -> list[Post]:
    """These posts, as a thread page shows them (authors, quoted parents), in one statement."""
    query = db.select(Post).where(Post.id.in_(ids)).options(*_post_options())
    return list(db.session.execute(query).unique().scalars())
