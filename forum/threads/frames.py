"""The signed-in reader's thread page, from a frame shared by readers of the same kind.

Everything on a thread page a signed-in participant or facilitator sees is the same for
every reader with the same role and the same email setting for the thread, except:
their name in the header, the CSRF token in the forms, the compose form's idempotency
key, and their own posts (edit and delete links, "I'd like support", held posts only
they see). So the page is rendered once per data version, page, role and *variant* (what
the registered variant functions say about this reader, e.g. the thread's email
setting) with marks in place of the name, token and key, and kept in the shared cache;
each request fills the marks in.

The posts are kept beside the frame, each as a reader who wrote none of them sees it;
a reader's own posts on the page (any status) are rendered for them and put in their
places. A flashed message, the support panel or anything that stops the reader posting
means the page is rendered in full instead (the caller's path): those pages are rare.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from flask import Flask, current_app, g, session
from flask_wtf.csrf import generate_csrf
from markupsafe import escape
from sqlalchemy import Select, and_, bindparam, or_, select

from forum import cache
from forum.accounts.models import Role, User
from forum.courses.services import THREAD_VERSION
from forum.extensions import db
from forum.threads.models import Post

NAME_MARK = "\x00hearth:name\x00"
CSRF_MARK = "\x00hearth:csrf\x00"
KEY_MARK = "\x00hearth:key\x00"
POSTS_MARK = "\x00hearth:posts\x00"  # where the page's posts go: <li>MARK</li>
ITEM_JOIN = "</li>\n    <li>"  # between two posts, as threads/thread.html lays them out
_MARKS = re.compile(
    "(" + "|".join(map(re.escape, (NAME_MARK, CSRF_MARK, KEY_MARK, POSTS_MARK))) + ")"
)
# Session keys that change nothing on the page of a signed-in reader.
NEUTRAL_SESSION_KEYS = cache.NEUTRAL_SESSION_KEYS | {"_user_id"}
FRAME_ROLES = frozenset({Role.PARTICIPANT, Role.FACILITATOR})
LOCAL_ENTRIES = 256
THREAD_VERSION_WIDTH = len(THREAD_VERSION.selected_columns)

PromptRef = tuple[int, int]  # (prompt id, module id)
# Given the reader, (prompt id, module id) and the values of the variant's columns: what
# the frame is kept by (hashable, JSON-able).
Interpret = Callable[[User, PromptRef, tuple], Any]
READER_ENDPOINT = "threads.thread:reader"


def register_thread_variant(
    app: Flask, name: str, columns: Sequence[Any], interpret: Interpret
) -> None:
    """Let a package say what, about this reader, changes the thread page's frame.

    ``columns`` are scalar subqueries correlated to ``Prompt`` (the thread) that may use
    the bind parameter ``reader_id``: they are read with the thread's versions, in the
    same statement, so a variant costs no statement of its own. ``interpret(user,
    (prompt_id, module_id), values)`` turns their values into what the frame is kept by.
    """
    app.extensions.setdefault("hearth_thread_variants", {})[name] = (tuple(columns), interpret)
    app.extensions.pop("hearth_thread_reader_statement", None)


def _reader_statement(app: Flask) -> Select:
    statement = app.extensions.get("hearth_thread_reader_statement")
    if statement is None:
        columns = [
            column
            for _name, (cols, _interpret) in sorted(
                app.extensions.get("hearth_thread_variants", {}).items()
            )
            for column in cols
        ]
        statement = THREAD_VERSION.add_columns(*columns)
        app.extensions["hearth_thread_reader_statement"] = statement
    return statement


def reader_versions(slugs: dict[str, str], user: User) -> tuple[tuple, dict[str, Any]] | None:
    """The thread's versions (the row of courses.services.THREAD_VERSION) and what each
    variant says about this reader, in one statement; None: no such thread."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    front = app.extensions["hearth_front_cache"]
    row = front.versions.read(
        READER_ENDPOINT, _reader_statement(app), {**slugs, "reader_id": user.id}
    )
    if row is None:
        return None
    base, values = row[:THREAD_VERSION_WIDTH], row[THREAD_VERSION_WIDTH:]
    prompt_ref = (base[3], base[5])
    said: dict[str, Any] = {}
    at = 0
    for name, (cols, interpret) in sorted(app.extensions.get("hearth_thread_variants", {}).items()):
        said[name] = interpret(user, prompt_ref, tuple(values[at : at + len(cols)]))
        at += len(cols)
    return base, said


class Frame:
    """A rendered page with marks; its posts as [created_at iso, id, author id, html]; and
    where its page of posts starts and stops ([created_at iso, id], None at an end)."""

    __slots__ = ("html", "items", "pieces", "posts", "start", "stop")

    def __init__(self, html: str, items: list, start: list | None, stop: list | None) -> None:
        self.html = html
        self.items = items
        self.start = start
        self.stop = stop
        self.posts = ITEM_JOIN.join(item[3] for item in items)
        # The page cut at its marks, so a request joins once instead of replacing each.
        self.pieces = _MARKS.split(html)

    def dumps(self) -> bytes:
        data = {"html": self.html, "items": self.items, "start": self.start, "stop": self.stop}
        return json.dumps(data).encode()

    @classmethod
    def loads(cls, raw: bytes) -> Frame:
        data = json.loads(raw)
        return cls(data["html"], data["items"], data["start"], data["stop"])

    def filled(self) -> Frame:
        """This frame with "3 minutes ago" in words, for now."""
        items = [[at, pid, author, cache.fill_times(html)] for at, pid, author, html in self.items]
        return Frame(cache.fill_times(self.html), items, self.start, self.stop)


class _Filled:
    """Frames with "3 minutes ago" filled in, in this worker, for the minute they were."""

    def __init__(self) -> None:
        self._data: OrderedDict[tuple[str, int], Frame] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, minute: int) -> Frame | None:
        with self._lock:
            frame = self._data.get((key, minute))
            if frame is not None:
                self._data.move_to_end((key, minute))
            return frame

    def put(self, key: str, minute: int, frame: Frame) -> None:
        with self._lock:
            self._data[(key, minute)] = frame
            while len(self._data) > LOCAL_ENTRIES:
                self._data.popitem(last=False)


def _filled(app: Flask) -> _Filled:
    found = app.extensions.get("hearth_thread_frames")
    if found is None:
        found = app.extensions["hearth_thread_frames"] = _Filled()
    return found


def frame_reader_ok(user: User) -> bool:
    """Whether this signed-in reader's page may come from a frame at all."""
    if user.role not in FRAME_ROLES or user.is_suspended or not user.is_confirmed:
        return False
    return set(session.keys()) <= NEUTRAL_SESSION_KEYS


def frame_key(version: str, number: int, user: User, said: dict[str, Any]) -> str:
    """The shared cache's key for this reader's kind of frame."""
    return f"frame:{cache.render_epoch()}:{version}:{number}:{user.role}:{json.dumps(said)}"


def get_frame(key: str, render: Callable[[], Frame]) -> Frame:
    """The frame under ``key`` with its times filled for this minute: from this worker,
    else the shared cache, else rendered (``render`` leaves the time marks in)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    local = _filled(app)
    minute = int(time.time() // 60)
    frame = local.get(key, minute)
    if frame is not None:
        return frame
    raw = cache.get(key)
    if raw is not None:
        marked = Frame.loads(raw)
    else:
        g.hearth_defer_ago = True
        try:
            marked = render()
        finally:
            g.hearth_defer_ago = False
        cache.put(key, marked.dumps())
    frame = marked.filled()
    local.put(key, minute, frame)
    return frame


def _before(at: str, pid: str) -> Any:
    # Strictly before the post (at, pid) in thread order.
    return or_(
        Post.created_at < bindparam(at),
        and_(Post.created_at == bindparam(at), Post.id < bindparam(pid)),
    )


@functools.cache
def _own_posts_statement(has_start: bool, has_stop: bool) -> Select:
    # Built once per shape, with bind parameters: building a statement (and its cache
    # key) costs more than running it.
    query = select(Post.id, Post.created_at).where(
        Post.prompt_id == bindparam("prompt_id"), Post.author_id == bindparam("author_id")
    )
    if has_start:
        query = query.where(~_before("start_at", "start_id"))
    if has_stop:
        query = query.where(_before("stop_at", "stop_id"))
    return query.order_by(Post.created_at, Post.id)


def own_posts(frame: Frame, prompt_id: int, user: User) -> list[tuple[int, str]]:
    """(id, created_at iso) of the posts ``user`` wrote in the frame's page (any status),
    oldest first, in one statement over the thread-order index."""
    params: dict[str, Any] = {"prompt_id": prompt_id, "author_id": user.id}
    if frame.start is not None:
        params["start_at"] = datetime.fromisoformat(frame.start[0])
        params["start_id"] = frame.start[1]
    if frame.stop is not None:
        params["stop_at"] = datetime.fromisoformat(frame.stop[0])
        params["stop_id"] = frame.stop[1]
    statement = _own_posts_statement(frame.start is not None, frame.stop is not None)
    rows = db.session.connection().execute(statement, params)
    return [(post_id, created_at.isoformat()) for post_id, created_at in rows]


class OwnRendered:
    """A reader's own posts as rendered for them, in this worker, by the thread's data
    version (any change to a post of the thread changes it: never stale)."""

    def __init__(self) -> None:
        self._data: OrderedDict[tuple, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> str | None:
        with self._lock:
            html = self._data.get(key)
            if html is not None:
                self._data.move_to_end(key)
            return html

    def put(self, key: tuple, html: str) -> None:
        with self._lock:
            self._data[key] = html
            while len(self._data) > LOCAL_ENTRIES * 8:
                self._data.popitem(last=False)


def own_rendered() -> OwnRendered:
    """This worker's store of readers' own posts as rendered for them."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("hearth_own_posts")
    if found is None:
        found = app.extensions["hearth_own_posts"] = OwnRendered()
    return found


def posts_for(frame: Frame, user: User, own: list[tuple[str, int, str]]) -> str:
    """The page's posts for this reader: the shared ones, less their own, and their own
    (created_at iso, id, html) rendered for them, in thread order."""
    if not own:
        return frame.posts
    merged = [(at, pid, html) for at, pid, author, html in frame.items if author != user.id]
    merged += own
    merged.sort(key=lambda item: (item[0], item[1]))
    return ITEM_JOIN.join(html for _at, _pid, html in merged)


def fill(frame: Frame, user: User, posts: str, idempotency_key: str) -> str:
    """The frame as this reader's page: their posts, name and CSRF token, a fresh key."""
    values = {
        POSTS_MARK: posts,
        NAME_MARK: str(escape(user.display_name)),
        CSRF_MARK: generate_csrf(),
        KEY_MARK: idempotency_key,
    }
    pieces = frame.pieces
    # split() with a group: text, mark, text, mark, ..., text.
    return "".join(values[piece] if i % 2 else piece for i, piece in enumerate(pieces))


class FrameViewer:
    """Stands in for the reader while a frame is rendered: their role, a mark for their
    name, and the id of nobody (so every post renders as someone else's)."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_suspended = False
    is_confirmed = True
    id = 0
    display_name = NAME_MARK

    def __init__(self, role: Role) -> None:
        self.role = role

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles or self.role == Role.ADMIN

    @property
    def is_staff(self) -> bool:
        return self.role in {Role.FACILITATOR, Role.MODERATOR, Role.ADMIN}

    def get_id(self) -> str:
        return "0"


def render_with_marks(render: Callable[[], str]) -> str:
    """Run ``render`` with the CSRF token as a mark (every form on the frame)."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    saved = g.pop(field, None)
    setattr(g, field, CSRF_MARK)
    try:
        return render()
    finally:
        g.pop(field, None)
        if saved is not None:
            setattr(g, field, saved)
