"""What moderation checks writing against, read in one statement: the thread's lock, the
watched words and, for a new post, what its author wrote lately in other threads.

Both the check before a post is written (``check_posting_allowed``, from the
``check_writing`` hook) and the holds once it is (``hold_for_new_post``) need them; a
request reads them once and hands them on (moderation/receivers.py), and every other
caller reads them afresh.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    bindparam,
    cast,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.sql import operators

from forum.courses.models import Course, Module, Prompt
from forum.database import UTCDateTime
from forum.extensions import db
from forum.threads.models import Post
from moderation.models import ThreadLock, WatchAction, WatchedWord

# How many of an author's recent posts elsewhere the repeated-post rule compares.
RECENT_TEXTS = 50


@dataclass(frozen=True)
class PostingRules:
    """A thread's lock (its reason, None if it isn't locked) and every watched word as
    (phrase, action), oldest first. ``prompt_id`` is None when no thread was asked for
    (or none has those slugs): then ``lock_reason`` is None too.

    ``recent_texts``: when an author was asked for (``author_id``), the texts of their
    latest posts in other threads since the time given, newest first; else None.
    """

    prompt_id: int | None
    lock_reason: str | None
    words: tuple[tuple[str, WatchAction], ...]
    author_id: int | None = None
    recent_texts: tuple[str, ...] | None = None


def _row(part: int, ref: Any, text: Any, action: Any) -> tuple[Any, ...]:
    # Every part's rows are (part, ref, text, action).
    return (
        literal_column(str(part)).label("part"),
        ref.label("ref"),
        text.label("text"),
        action.label("action"),
    )


_NO_ACTION = cast(null(), String(16))
_PROMPT_BY_SLUGS = (
    select(Prompt.id)
    .join(Module, Prompt.module_id == Module.id)
    .join(Course, Module.course_id == Course.id)
    .where(
        Course.slug == bindparam("course_slug"),
        Module.slug == bindparam("module_slug"),
        Prompt.slug == bindparam("prompt_slug"),
    )
)
# Part 1: the watched words (id, phrase, action).
_WORDS: Select[Any] = select(
    *_row(1, WatchedWord.id, WatchedWord.phrase, cast(WatchedWord.action, String(16)))
)
# Part 0: the thread (its id, and its lock's reason if it has one), at most one row.
_LOCK_BY_ID: Select[Any] = select(
    *_row(0, ThreadLock.prompt_id, ThreadLock.reason, _NO_ACTION)
).where(ThreadLock.prompt_id == bindparam("prompt_id"))
_LOCK_BY_SLUGS: Select[Any] = _PROMPT_BY_SLUGS.with_only_columns(
    *_row(0, Prompt.id, ThreadLock.reason, _NO_ACTION)
).outerjoin(ThreadLock, ThreadLock.prompt_id == Prompt.id)


def _recent_texts(thread: ColumnElement[int]) -> Select[Any]:
    """Part 2: the author's latest posts since a time in other threads than ``thread``
    (id, text): two ranges of ix_posts_author_thread (author, thread, time), so their posts
    in this thread, however many, are never read."""

    def side(compare) -> Select[Any]:
        return select(Post.id, Post.body_source).where(
            Post.author_id == bindparam("author_id"),
            compare(Post.prompt_id, thread),
            Post.created_at >= bindparam("since", type_=UTCDateTime()),
            Post.id != bindparam("post_id"),
        )

    both = union_all(side(operators.lt), side(operators.gt)).subquery()
    latest = (
        select(both.c.id, both.c.body_source)
        .order_by(both.c.id.desc())
        .limit(bindparam("limit"))
        .subquery()
    )
    return select(*_row(2, latest.c.id, latest.c.body_source, _NO_ACTION))


@functools.cache
def _statement(by: str, with_texts: bool) -> Select[Any]:
    # Built once per shape (thread by id, by slugs or none; with the author's texts or not).
    parts: list[Select[Any]] = []
    if by == "id":
        parts.append(_LOCK_BY_ID)
    elif by == "slugs":
        parts.append(_LOCK_BY_SLUGS)
    parts.append(_WORDS)
    if with_texts:
        thread: Any = bindparam("prompt_id") if by == "id" else _PROMPT_BY_SLUGS.scalar_subquery()
        parts.append(_recent_texts(thread))
    rows = union_all(*parts).subquery()
    return select(rows).order_by(rows.c.part, rows.c.ref)


def read_posting_rules(
    prompt_id: int | None = None,
    thread: tuple[str, str, str] | None = None,
    *,
    author_id: int | None = None,
    since: datetime | None = None,
    post_id: int | None = None,
) -> PostingRules:
    """The lock of the thread with ``prompt_id`` (or with the slugs ``thread``: course,
    module, prompt) and the watched words, in one statement; with ``author_id`` and
    ``since``, also that author's recent texts in other threads (``post_id`` left out)."""
    params: dict[str, Any] = {}
    by = "none"
    if thread is not None:
        by = "slugs"
        params.update(zip(("course_slug", "module_slug", "prompt_slug"), thread, strict=True))
    elif prompt_id is not None:
        by = "id"
        params["prompt_id"] = prompt_id
    with_texts = author_id is not None and since is not None and by != "none"
    if with_texts:
        params.update(author_id=author_id, since=since, post_id=post_id or 0, limit=RECENT_TEXTS)
    rows = db.session.connection().execute(_statement(by, with_texts), params).all()
    found_prompt = prompt_id if thread is None else None
    lock_reason = None
    words = []
    texts = []
    for part, ref, text, action in rows:
        if part == 0:
            found_prompt, lock_reason = ref, text
        elif part == 1:
            words.append((text, WatchAction(action)))
        else:
            texts.append(text)
    return PostingRules(
        prompt_id=found_prompt,
        lock_reason=lock_reason,
        words=tuple(words),
        author_id=author_id if with_texts else None,
        recent_texts=tuple(reversed(texts)) if with_texts else None,
    )
