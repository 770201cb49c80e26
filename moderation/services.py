"""Moderation's rules: flags, holds, the review queue, decisions, sanctions and appeals.

Every function takes the acting user first (or None for the system), checks what it may
do, writes rows and flushes; it never commits. Each moderator decision writes exactly one
audit row through ``forum.audit.record`` and sends one of ``moderation.signals``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Integer,
    Row,
    Select,
    String,
    bindparam,
    event,
    exists,
    func,
    literal,
    or_,
    union_all,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import ORMExecuteState, Session, joinedload, load_only

from forum import audit
from forum.accounts.models import Role, User
from forum.claims import claim
from forum.courses.models import Module, Prompt
from forum.database import utcnow
from forum.extensions import db
from forum.service_errors import Conflict, NotFound, PermissionDenied, ServiceError
from forum.signals import Hold, sender
from forum.templating import humanize_time
from forum.text import clean_line, clean_multiline
from forum.threads.models import Post, PostStatus
from forum.threads.services import change_post_status, touch_thread
from moderation.models import (
    AccountNote,
    Action,
    Appeal,
    AppealState,
    Flag,
    FlagReason,
    FlagState,
    ItemSource,
    ItemState,
    Notice,
    QueueVersion,
    ReviewItem,
    Sanction,
    SanctionKind,
    ThreadLock,
    WatchAction,
    WatchedWord,
)
from moderation.posting_rules import PostingRules, read_posting_rules
from moderation.signals import appeal_decided, moderation_decided, sanction_applied

DEFAULTS: dict[str, Any] = {
    # Open flags that hide a post until a moderator looks at it.
    "MODERATION_HIDE_THRESHOLD": 3,
    # Flags one person may raise in a day.
    "MODERATION_FLAGS_PER_DAY": 20,
    # An account this young, with fewer published posts than this, has its posts with
    # links held.
    "MODERATION_NEW_ACCOUNT_DAYS": 7,
    "MODERATION_NEW_ACCOUNT_POSTS": 3,
    # The same text from the same author in another thread within this many hours is held.
    "MODERATION_DUPLICATE_HOURS": 24,
    "MODERATION_CLAIM_MINUTES": 10,
    "MODERATION_ITEMS_PER_PAGE": 25,
    "MODERATION_AUDIT_PER_PAGE": 50,
}

MAX_REASON_CHARS = 2000
MAX_NOTE_CHARS = 2000
MAX_PHRASE_CHARS = 200
# A ban lasts until it is lifted.
BAN_UNTIL = datetime(2999, 12, 31, tzinfo=UTC)
MAX_SANCTION_DAYS = 365

SEVERITY = {
    FlagReason.SPAM: 3,
    FlagReason.HARASSMENT: 5,
    FlagReason.PRIVACY: 4,
    FlagReason.OFF_TOPIC: 1,
    FlagReason.OTHER: 2,
}
DISTRESSING_REASONS = frozenset({FlagReason.HARASSMENT})
HOLD_PRIORITY = 20

OPEN_STATES = (ItemState.PENDING, ItemState.APPEALED)

RESULT_STATE = {
    Action.KEEP: ItemState.KEPT,
    Action.HIDE: ItemState.HIDDEN,
    Action.REMOVE: ItemState.REMOVED,
    Action.REQUEST_REVISION: ItemState.REVISION_REQUESTED,
}
RESULT_POST_STATUS = {
    Action.KEEP: PostStatus.VISIBLE,
    Action.HIDE: PostStatus.HIDDEN,
    Action.REMOVE: PostStatus.REMOVED,
    Action.REQUEST_REVISION: PostStatus.HELD,
}
# Which decisions can follow which: every decision can be undone by another one.
ALLOWED = {
    ItemState.PENDING: set(Action),
    ItemState.KEPT: {Action.HIDE, Action.REMOVE, Action.REQUEST_REVISION},
    ItemState.HIDDEN: {Action.KEEP, Action.REMOVE, Action.REQUEST_REVISION},
    ItemState.REMOVED: {Action.KEEP, Action.HIDE},
    ItemState.REVISION_REQUESTED: {Action.KEEP, Action.HIDE, Action.REMOVE},
    ItemState.APPEALED: set(),
}
ACTION_WORDS = {
    Action.KEEP: "kept",
    Action.HIDE: "hidden",
    Action.REMOVE: "removed",
    Action.REQUEST_REVISION: "sent back for revision",
}

LINK_RE = re.compile(r"(https?://|www\.|\]\()", re.IGNORECASE)


def setting(name: str) -> Any:
    return current_app.config[name]


def _require_moderator(actor: User | None) -> User:
    if actor is None or not actor.is_authenticated or not actor.has_role(Role.MODERATOR):
        raise PermissionDenied("Only moderators can do this.")
    return actor


def _reason(reason: str | None, field: str = "reason") -> str:
    text = clean_multiline(reason).strip()
    if not text:
        raise ServiceError("Please give a reason: the people concerned are told it.", field=field)
    if len(text) > MAX_REASON_CHARS:
        raise ServiceError(
            f"Please keep the reason under {MAX_REASON_CHARS:,} characters.", field=field
        )
    return text


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def _notify(user_id: int, title: str, body: str, item=None, sanction=None) -> Notice:
    notice = Notice(
        user_id=user_id,
        title=title[:200],
        body=body,
        item_id=item.id if item is not None else None,
        sanction_id=sanction.id if sanction is not None else None,
        created_at=utcnow(),
    )
    db.session.add(notice)
    db.session.flush()
    return notice


# --- review items ------------------------------------------------------------------------


def item_for_post(post: Post) -> ReviewItem | None:
    return db.session.execute(
        db.select(ReviewItem).where(ReviewItem.post_id == post.id)
    ).scalar_one_or_none()


def _open_item(post: Post, source: ItemSource) -> ReviewItem:
    """The post's review item, made with a snapshot of the post the first time."""
    item = item_for_post(post)
    now = utcnow()
    if item is None:
        prompt = post.prompt if post.prompt is not None else db.session.get(Prompt, post.prompt_id)
        assert prompt is not None
        item = ReviewItem(
            post_id=post.id,
            module_id=prompt.module_id,
            state=ItemState.PENDING,
            source=source,
            priority=0,
            open_flags=0,
            distressing=False,
            snapshot_source=post.body_source,
            snapshot_html=post.body_html,
            snapshot_author_id=post.author_id,
            snapshot_posted_at=post.created_at,
            created_at=now,
            updated_at=now,
            version=0,
            auto_hidden=False,
        )
        db.session.add(item)
        db.session.flush()
    elif item.state in (ItemState.KEPT,):
        # Flagged again after it was kept: back in the queue.
        item.state = ItemState.PENDING
        item.version += 1
        item.updated_at = now
        db.session.flush()
    return item


def reporter_accuracy(reporter_ids: list[int]) -> dict[int, float]:
    """Each reporter's share of past resolved flags that led to action (0.5 with no history)."""
    if not reporter_ids:
        return {}
    rows = db.session.execute(
        db.select(
            Flag.reporter_id,
            func.count(Flag.id).filter(Flag.state == FlagState.ACTIONED),
            func.count(Flag.id).filter(Flag.state != FlagState.OPEN),
        )
        .where(Flag.reporter_id.in_(reporter_ids))
        .group_by(Flag.reporter_id)
    ).all()
    accuracy = {rid: 0.5 for rid in reporter_ids}
    for reporter_id, actioned, resolved in rows:
        if resolved:
            accuracy[reporter_id] = actioned / resolved
    return accuracy


def _reprioritise(item: ReviewItem) -> None:
    flags = list(
        db.session.execute(
            db.select(Flag).where(Flag.item_id == item.id, Flag.state == FlagState.OPEN)
        ).scalars()
    )
    accuracy = reporter_accuracy([f.reporter_id for f in flags if f.reporter_id is not None])
    score = 0.0
    for flag in flags:
        trust = accuracy.get(flag.reporter_id, 0.5) if flag.reporter_id else 0.5
        score += SEVERITY[flag.reason] * (1 + trust) * 10
    base = HOLD_PRIORITY if item.source == ItemSource.HOLD else 0
    item.priority = base + round(score)
    item.open_flags = len(flags)
    item.distressing = item.distressing or any(f.reason in DISTRESSING_REASONS for f in flags)
    item.updated_at = utcnow()
    db.session.flush()


# --- flags -------------------------------------------------------------------------------


def check_can_flag(reporter: User, post: Post) -> None:
    if not reporter.is_authenticated:
        raise PermissionDenied("Please log in to flag a post.")
    if post.status != PostStatus.VISIBLE:
        raise NotFound("This post isn't shown any more, so it can't be flagged.")
    if post.author_id == reporter.id:
        raise PermissionDenied("You can't flag your own post. You can edit or delete it.")


def flag_post(reporter: User, post: Post, reason: str | None, note: str | None = None) -> Flag:
    """Flag a public post; the post's open flags gather into one review item."""
    check_can_flag(reporter, post)
    try:
        kind = FlagReason(reason or "")
    except ValueError:
        raise ServiceError("Please choose a reason.", field="reason") from None
    text = clean_multiline(note).strip() or None
    if kind == FlagReason.OTHER and not text:
        raise ServiceError("Please say in a few words what is wrong.", field="note")
    if text and len(text) > MAX_NOTE_CHARS:
        raise ServiceError(f"Please keep the note under {MAX_NOTE_CHARS:,} characters.", "note")
    already = db.session.execute(
        db.select(Flag.id).where(
            Flag.post_id == post.id,
            Flag.reporter_id == reporter.id,
            Flag.state == FlagState.OPEN,
        )
    ).first()
    if already is not None:
        raise Conflict("You have already flagged this post. A moderator will look at it.")
    since = utcnow() - timedelta(days=1)
    today = db.session.execute(
        db.select(func.count(Flag.id)).where(
            Flag.reporter_id == reporter.id, Flag.created_at >= since
        )
    ).scalar_one()
    if today >= setting("MODERATION_FLAGS_PER_DAY"):
        raise ServiceError(
            "You have flagged many posts today. Thank you: moderators will look at them. "
            "Please try again tomorrow."
        )
    item = _open_item(post, ItemSource.FLAGS)
    flag = Flag(
        item_id=item.id,
        post_id=post.id,
        reporter_id=reporter.id,
        reason=kind,
        note=text,
        state=FlagState.OPEN,
        created_at=utcnow(),
    )
    db.session.add(flag)
    db.session.flush()
    _reprioritise(item)
    by_moderator = reporter.has_role(Role.MODERATOR)
    if by_moderator or item.open_flags >= setting("MODERATION_HIDE_THRESHOLD"):
        change_post_status(
            None,
            post,
            PostStatus.HIDDEN,
            reason="Hidden while a moderator looks at it, after it was flagged.",
        )
        if not item.auto_hidden:
            _notify(
                post.author_id,
                "Your post is hidden while a moderator looks at it",
                "Readers asked a moderator to look at your post, so it is hidden for now. "
                "A moderator will decide soon, and you will be told the outcome and why.",
                item,
            )
        item.auto_hidden = True
        db.session.flush()
    return flag


# --- holds (called by the post_created receiver) -----------------------------------------


def normalise_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def _phrase_matches(phrase: str, normalised: str) -> bool:
    wanted = normalise_text(phrase)
    return bool(wanted) and re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", normalised) is not None


def watched_matches(
    text: str, words: tuple[tuple[str, WatchAction], ...] | None = None
) -> dict[WatchAction, list[str]]:
    """The watched words or phrases ``text`` contains, by what each is set to do.

    ``words``: the (phrase, action) list already read (PostingRules.words), else read now.
    """
    if words is None:
        words = read_posting_rules().words
    normalised = normalise_text(text)
    found: dict[WatchAction, list[str]] = {}
    for phrase, action in words:
        if _phrase_matches(phrase, normalised):
            found.setdefault(action, []).append(phrase)
    return found


def _is_new_account(author: User, post: Post) -> bool:
    if author.is_staff:
        return False
    young = author.created_at > utcnow() - timedelta(days=setting("MODERATION_NEW_ACCOUNT_DAYS"))
    if not young:
        return False
    published = db.session.execute(
        db.select(func.count(Post.id)).where(
            Post.author_id == author.id, Post.published_at.is_not(None), Post.id != post.id
        )
    ).scalar_one()
    return published < setting("MODERATION_NEW_ACCOUNT_POSTS")


def repeats_since() -> datetime:
    """Since when a new post is compared with its author's posts in other threads."""
    return utcnow() - timedelta(hours=setting("MODERATION_DUPLICATE_HOURS"))


def _is_repeat(post: Post, others: tuple[str, ...]) -> bool:
    # ``others``: the author's latest texts in other threads (PostingRules.recent_texts).
    mine = normalise_text(post.body_source)
    if len(mine) < 20:
        return False  # "Thank you" twice is not spam
    return any(normalise_text(body) == mine for body in others)


def thread_lock(prompt_id: int) -> ThreadLock | None:
    return db.session.execute(
        db.select(ThreadLock).where(ThreadLock.prompt_id == prompt_id)
    ).scalar_one_or_none()


# What the author is told about a hold: why in general, never the exact rule's details.
HOLD_WORDS = {
    "thread_locked": "This thread is locked by the moderators, so new posts wait for them.",
    "blocked_word": "It contains words our community guidelines don't allow here. "
    "A moderator will look at it.",
    "watched_word": "It contains a word or phrase moderators look at before a post is shown. "
    "It will usually be shown soon.",
    "first_post_with_link": "New accounts' first posts with links wait for a moderator, to "
    "keep spam out. It will usually be shown soon.",
    "repeated_post": "It has the same text as a post of yours in another thread, so a "
    "moderator checks it first.",
}


def hold_for_new_post(post: Post, rules: PostingRules | None = None) -> Hold | None:
    """The post_created rules: a Hold (and a review item) if the post must wait.

    ``rules``: the thread's lock, the watched words and the author's recent posts in other
    threads if this request already read them (check_writing); else one statement reads
    them now.
    """
    author = post.author if post.author is not None else db.session.get(User, post.author_id)
    assert author is not None
    if author.has_role(Role.MODERATOR):
        return None
    hold: Hold | None = None
    if (
        rules is None
        or rules.prompt_id != post.prompt_id
        or rules.author_id != post.author_id
        or rules.recent_texts is None
    ):
        rules = read_posting_rules(
            post.prompt_id, author_id=post.author_id, since=repeats_since(), post_id=post.id
        )
    assert rules.recent_texts is not None
    matches = watched_matches(post.body_source, rules.words)
    if rules.lock_reason is not None:
        hold = Hold("thread_locked", f"Written in a locked thread ({rules.lock_reason}).")
    elif WatchAction.BLOCK in matches:
        hold = Hold(
            "blocked_word", "Contains a blocked word: " + ", ".join(matches[WatchAction.BLOCK])
        )
    elif WatchAction.HOLD in matches:
        hold = Hold(
            "watched_word", "Contains a watched word: " + ", ".join(matches[WatchAction.HOLD])
        )
    elif LINK_RE.search(post.body_source) and _is_new_account(author, post):
        hold = Hold("first_post_with_link", "A new account's early post with a link.")
    elif _is_repeat(post, rules.recent_texts):
        hold = Hold("repeated_post", "The same text from the same person in another thread.")
    if hold is not None:
        item = _open_item(post, ItemSource.HOLD)
        item.source = ItemSource.HOLD
        item.hold_rule = hold.rule
        item.hold_reason = hold.reason
        _reprioritise(item)
        _notify(post.author_id, "Your post is waiting for a moderator", HOLD_WORDS[hold.rule], item)
        return hold
    if WatchAction.FLAG in matches:
        item = _open_item(post, ItemSource.FLAGS)
        db.session.add(
            Flag(
                item_id=item.id,
                post_id=post.id,
                reporter_id=None,
                reason=FlagReason.OTHER,
                note="Watched word: " + ", ".join(matches[WatchAction.FLAG]),
                state=FlagState.OPEN,
                created_at=utcnow(),
            )
        )
        db.session.flush()
        _reprioritise(item)
    return None


def back_to_queue_after_edit(post: Post) -> None:
    """An author revised a post a moderator sent back: it waits for a moderator again."""
    item = item_for_post(post)
    if item is None or item.state != ItemState.REVISION_REQUESTED:
        return
    item.state = ItemState.PENDING
    item.version += 1
    item.updated_at = utcnow()
    db.session.flush()


class PostingForbidden(PermissionDenied):
    """A sanction or a locked thread keeps this person from writing here (403)."""


class BlockedWords(ServiceError):
    """The text contains a blocked word; the writer can change it (422, text kept)."""


def check_posting_allowed(
    user: User, prompt_id: int | None, body: str | None, rules: PostingRules | None = None
) -> None:
    """Raise, in words, if moderation refuses this writing before it is saved.

    A sanction says why and until when; a locked thread says so; a blocked word names
    itself so the writer can change it. ``rules``: the thread's lock and watched words if
    already read (one statement, read here otherwise; moderators need neither).
    """
    if user.is_authenticated and user.is_suspended:
        sanction = active_sanction(user)
        if sanction is not None:
            raise PostingForbidden(sanction_message(sanction))
    if user.has_role(Role.MODERATOR) or (prompt_id is None and not body):
        return
    if rules is None or rules.prompt_id != prompt_id:
        rules = read_posting_rules(prompt_id)
    if prompt_id is not None and rules.lock_reason is not None:
        raise PostingForbidden(f"This thread is locked by the moderators: {rules.lock_reason}")
    if body:
        blocked = watched_matches(body, rules.words).get(WatchAction.BLOCK)
        if blocked:
            raise BlockedWords(
                "This can't be posted because it contains words our community guidelines "
                f"don't allow here: {', '.join(blocked)}. Please change them and post again.",
                field="body",
            )


# --- claiming and deciding ---------------------------------------------------------------


def _conflict_for(item: ReviewItem, moderator: User) -> Conflict:
    db.session.refresh(item)
    if (
        item.claimed_by
        and item.claimed_by != moderator.id
        and item.claimed_until
        and item.claimed_until > utcnow()
        and item.state in OPEN_STATES
    ):
        who = db.session.get(User, item.claimed_by)
        name = who.display_name if who else "another moderator"
        return Conflict(f"{name} is reviewing this item right now. Try another one.")
    if item.decided_at is None or item.decided_at != item.updated_at:
        # The last change wasn't a decision: new flags, an edit, an appeal.
        return Conflict(
            "This item changed since you opened it (new flags, an edit or an appeal). "
            "Please look at it again."
        )
    who = item.decided_by
    name = who.display_name if who else "another moderator"
    when = humanize_time(item.decided_at)
    if when == "just now":
        when = "a moment ago"
    return Conflict(f"This item was already decided by {name} {when}. Please look at it again.")


def claim_item(moderator: User, item: ReviewItem) -> None:
    """Take an open item for a few minutes, so no one else decides it meanwhile."""
    _require_moderator(moderator)
    lease = timedelta(minutes=setting("MODERATION_CLAIM_MINUTES"))
    still_open = [ReviewItem.state.in_(OPEN_STATES)]
    if not claim(ReviewItem, item.id, moderator.id, lease, where=still_open):
        raise _conflict_for(item, moderator)


def _take_decision(
    moderator: User, item: ReviewItem, expected_version: int, values: dict[str, Any]
) -> None:
    """One conditional UPDATE: exactly one of two racing moderators wins."""
    now = utcnow()
    if "decided_at" in values:
        values = {**values, "decided_at": now}  # equal to updated_at: the last change
    result = db.session.execute(
        update(ReviewItem)
        .where(
            ReviewItem.id == item.id,
            ReviewItem.version == expected_version,
            or_(
                ReviewItem.claimed_until.is_(None),
                ReviewItem.claimed_until < now,
                ReviewItem.claimed_by == moderator.id,
            ),
        )
        .values(
            version=ReviewItem.version + 1,
            updated_at=now,
            claimed_by=None,
            claimed_until=None,
            **values,
        )
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        raise _conflict_for(item, moderator)
    db.session.refresh(item)


def _resolve_flags(item: ReviewItem, state: FlagState) -> list[User]:
    flags = list(
        db.session.execute(
            db.select(Flag)
            .where(Flag.item_id == item.id, Flag.state == FlagState.OPEN)
            .options(joinedload(Flag.reporter))
        ).scalars()
    )
    now = utcnow()
    reporters: dict[int, User] = {}
    for flag in flags:
        flag.state = state
        flag.resolved_at = now
        if flag.reporter is not None:
            reporters[flag.reporter.id] = flag.reporter
    db.session.flush()
    return list(reporters.values())


def _set_post_status(moderator: User, post: Post, status: PostStatus, reason: str) -> None:
    if post.status == PostStatus.DELETED:
        return  # the author deleted it; the snapshot keeps the evidence
    if status == PostStatus.HIDDEN and post.published_at is None:
        status = PostStatus.HELD  # never shown: hiding it keeps it out of the thread
    change_post_status(moderator, post, status, reason=reason)


AUTHOR_TITLES = {
    Action.KEEP: "Your post is shown",
    Action.HIDE: "Your post was hidden by a moderator",
    Action.REMOVE: "Your post was removed by a moderator",
    Action.REQUEST_REVISION: "A moderator asked you to revise your post",
}


def decide(
    moderator: User,
    item: ReviewItem,
    action: str,
    reason: str | None,
    expected_version: int,
    *,
    audit_action: str | None = None,
) -> ReviewItem:
    """Keep, hide, remove or send back a post, with a reason the author is told."""
    _require_moderator(moderator)
    try:
        chosen = Action(action)
    except ValueError:
        raise ServiceError("Please choose what to do.", field="action") from None
    words = _reason(reason)
    if item.version != expected_version:
        raise _conflict_for(item, moderator)
    if chosen not in ALLOWED[item.state]:
        if item.state == ItemState.APPEALED:
            raise Conflict("This decision is under appeal: decide the appeal instead.")
        raise ServiceError(f"This post is already {ACTION_WORDS[chosen]}.", field="action")
    new_state = RESULT_STATE[chosen]
    _take_decision(
        moderator,
        item,
        expected_version,
        {
            "state": new_state,
            "decided_at": utcnow(),
            "decided_by_id": moderator.id,
            "decision_reason": words,
            "auto_hidden": False,
        },
    )
    post = item.post
    _set_post_status(moderator, post, RESULT_POST_STATUS[chosen], words)
    flag_state = FlagState.DISMISSED if chosen == Action.KEEP else FlagState.ACTIONED
    reporters = _resolve_flags(item, flag_state)
    item.open_flags = 0
    db.session.flush()
    audit.record(
        moderator,
        audit_action or f"moderation.{chosen.value}",
        post,
        words,
        item_id=item.id,
        state=new_state.value,
    )
    _notify(item.snapshot_author_id, AUTHOR_TITLES[chosen], words, item=item)
    moderation_decided.send(
        sender(),
        item=item,
        post=post,
        action=chosen,
        reason=words,
        moderator=moderator,
        author=db.session.get(User, item.snapshot_author_id),
        reporters=reporters,
    )
    return item


def bulk_remove_spam(moderator: User, item_ids: list[int], reason: str | None) -> int:
    """Remove several items' posts as spam with one reason; one audit row per post."""
    _require_moderator(moderator)
    words = _reason(reason)
    if not item_ids:
        raise ServiceError("Please select at least one item.", field="item_ids")
    items = list(
        db.session.execute(
            db.select(ReviewItem)
            .where(ReviewItem.id.in_(item_ids), ReviewItem.state == ItemState.PENDING)
            .order_by(ReviewItem.id)
        ).scalars()
    )
    if len(items) != len(set(item_ids)):
        raise Conflict(
            "Some of the selected items were decided by someone else a moment ago. "
            "Please look at the queue again."
        )
    for item in items:
        decide(
            moderator,
            item,
            Action.REMOVE,
            words,
            item.version,
            audit_action="moderation.remove_spam",
        )
    return len(items)


# --- the queue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    state: ItemState = ItemState.PENDING
    reason: FlagReason | None = None
    module_id: int | None = None


# Highest priority first, then oldest: the order of ix_moderation_items_queue and
# ix_moderation_items_module_queue, so a page is a walk of one of them.
QUEUE_ORDER = (ReviewItem.priority.desc(), ReviewItem.created_at, ReviewItem.id)

# What a queue card shows, and nothing else (no source text, no whole rows).
_QUEUE_COLUMNS = (
    ReviewItem.id,
    ReviewItem.state,
    ReviewItem.source,
    ReviewItem.hold_reason,
    ReviewItem.priority,
    ReviewItem.distressing,
    ReviewItem.auto_hidden,
    ReviewItem.snapshot_html,
    ReviewItem.snapshot_author_id,
    ReviewItem.created_at,
    ReviewItem.claimed_by,
    ReviewItem.claimed_until,
    Post.prompt_id,
)


@functools.cache
def _queue_statements(by_module: bool, by_reason: bool) -> tuple[Select[Any], Select[Any]]:
    """The count and the page of rows for one kind of filter, built once per process."""
    conditions: list[ColumnElement[bool]] = [ReviewItem.state == bindparam("state")]
    if by_module:
        conditions.append(ReviewItem.module_id == bindparam("module_id"))
    if by_reason:
        conditions.append(
            exists().where(
                Flag.item_id == ReviewItem.id,
                Flag.state == FlagState.OPEN,
                Flag.reason == bindparam("reason"),
            )
        )
    count = db.select(func.count()).select_from(ReviewItem).where(*conditions)
    # The page's ids come from the index alone (skipping earlier pages reads no rows);
    # only those rows are then read, with their post's thread.
    page_ids = (
        db.select(ReviewItem.id)
        .where(*conditions)
        .order_by(*QUEUE_ORDER)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    rows = (
        db.select(*_QUEUE_COLUMNS)
        .join(Post, Post.id == ReviewItem.post_id)
        .where(ReviewItem.id.in_(page_ids.scalar_subquery()))
        .order_by(*QUEUE_ORDER)
    )
    return count, rows


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue as data: rows of the columns it shows, never whole objects."""

    items: list[Row[Any]]
    total: int
    page: int
    pages: int
    reasons: dict[int, dict[FlagReason, int]]
    appeals: list[Row[Any]]


def queue_page(moderator: User, filters: QueueFilter, page: int, per_page: int) -> QueuePage | None:
    """One page of the review queue in four statements whatever the queue's size.

    None past the last page. Names and thread titles are not here: they change
    outside moderation, so they are read for every request (queue_state, queue_labels).
    """
    _require_moderator(moderator)
    count, rows = _queue_statements(filters.module_id is not None, filters.reason is not None)
    params = {
        "state": filters.state,
        "module_id": filters.module_id,
        "reason": filters.reason,
        "limit": per_page,
        "offset": (page - 1) * per_page,
    }
    conn = db.session.connection()
    total = conn.execute(count, params).scalar_one()
    pages = -(-total // per_page)
    if page > max(1, pages):
        return None
    items = list(conn.execute(rows, params).all())
    return QueuePage(
        items=items,
        total=total,
        page=page,
        pages=pages,
        reasons=reasons_for([item.id for item in items]),
        appeals=pending_appeals(),
    )


_REASONS_FOR = (
    db.select(Flag.item_id, Flag.reason, func.count())
    .where(Flag.item_id.in_(bindparam("item_ids", expanding=True)), Flag.state == FlagState.OPEN)
    .group_by(Flag.item_id, Flag.reason)
)


def reasons_for(item_ids: list[int]) -> dict[int, dict[FlagReason, int]]:
    """Open flags by reason for the items on one page, in one statement."""
    found: dict[int, dict[FlagReason, int]] = {item_id: {} for item_id in item_ids}
    if not item_ids:
        return found
    rows = db.session.connection().execute(_REASONS_FOR, {"item_ids": item_ids}).all()
    for item_id, reason, count in rows:
        found[item_id][reason] = count
    return found


_PENDING_APPEALS = (
    db.select(Appeal.id, Appeal.item_id, Appeal.appellant_id, Appeal.created_at)
    .where(Appeal.state == AppealState.PENDING)
    .order_by(Appeal.created_at, Appeal.id)
)


def pending_appeals() -> list[Row[Any]]:
    """Appeals waiting for a moderator, oldest first: what the queue's list of them shows."""
    return list(db.session.connection().execute(_PENDING_APPEALS).all())


@dataclass(frozen=True)
class QueueLabels:
    """What a queue page shows that belongs to other parts of the forum."""

    names: dict[int, str]  # display names by user id
    titles: dict[int, str]  # thread titles by prompt id


_QUEUE_LABELS = union_all(
    db.select(literal("u"), User.id, User.display_name).where(
        User.id.in_(bindparam("user_ids", expanding=True))
    ),
    db.select(literal("p"), Prompt.id, Prompt.title).where(
        Prompt.id.in_(bindparam("prompt_ids", expanding=True))
    ),
)


def queue_labels(user_ids: list[int], prompt_ids: list[int]) -> QueueLabels:
    """People's names and thread titles for a page of the queue, in one light statement.

    They change outside moderation (a new name, an imported course), so the cached queue
    keeps marks where they go and every request reads them fresh.
    """
    names: dict[int, str] = {}
    titles: dict[int, str] = {}
    rows = db.session.connection().execute(
        _QUEUE_LABELS, {"user_ids": user_ids, "prompt_ids": prompt_ids}
    )
    for kind, row_id, label in rows.all():
        (names if kind == "u" else titles)[row_id] = label
    return QueueLabels(names=names, titles=titles)


# --- the queue's data version ------------------------------------------------------------
#
# The rendered queue is cached per data version (moderation.views). The version is one row,
# bumped by every transaction that changed review items, flags or appeals. Which do is
# seen by the session itself, so no writer (here, in a receiver, a CLI or a future feature)
# can forget: a flush that writes such rows, or an UPDATE/DELETE statement on their tables,
# marks the session, and the bump is the last statement before COMMIT. Last, because it is
# one row every such transaction updates: taken at the end it is never held while waiting
# for another lock, so two writers can't deadlock on it, and it is held only for the commit.

_QUEUE_CHANGED = "moderation_queue_changed"
_QUEUE_ENTITIES = (ReviewItem, Flag, Appeal)
_QUEUE_TABLES = frozenset(m.__tablename__ for m in _QUEUE_ENTITIES)


@dataclass(frozen=True)
class QueueState:
    """What the queue's cache key is made of, and the labels read with it."""

    version: str | None  # None: not kept yet (a database made without migrations)
    modules: list[tuple[int, str]]  # every module, for the filter, in order
    labels: QueueLabels  # names and titles of the ids asked for


_NOTHING = literal(None, String)

# The version's row, every module, and the names and titles asked for, in one statement.
# The row's time is only part of a key: read as text, so no row needs converting.
_QUEUE_STATE = union_all(
    db.select(
        literal("v"), QueueVersion.version, _NOTHING, sql_cast(QueueVersion.created_at, String)
    ).where(QueueVersion.id == 1),
    db.select(literal("m"), Module.id, Module.title, _NOTHING),
    db.select(literal("u"), User.id, User.display_name, _NOTHING).where(
        User.id.in_(bindparam("user_ids", expanding=True))
    ),
    db.select(literal("p"), Prompt.id, Prompt.title, _NOTHING).where(
        Prompt.id.in_(bindparam("prompt_ids", expanding=True))
    ),
)


def queue_state(user_ids: list[int], prompt_ids: list[int]) -> QueueState:
    """The queue's data version, its filter's modules, and the names and titles of the
    people and threads asked for (those of the page last shown), in one light statement.

    The modules, names and titles change outside moderation, so they are read on every
    request. With no version yet, nothing may be cached.
    """
    version = None
    modules: list[tuple[int, str]] = []
    names: dict[int, str] = {}
    titles: dict[int, str] = {}
    rows = db.session.connection().execute(
        _QUEUE_STATE, {"user_ids": user_ids, "prompt_ids": prompt_ids}
    )
    for kind, number, label, created_at in rows.all():
        if kind == "v":
            version = f"{created_at}.{number}"
        elif kind == "m":
            modules.append((number, label))
        elif kind == "u":
            names[number] = label
        else:
            titles[number] = label
    modules.sort()
    return QueueState(version, modules, QueueLabels(names=names, titles=titles))


def _mark_flushed_queue_rows(session: Session, _context: Any) -> None:
    if session.info.get(_QUEUE_CHANGED):
        return
    for changed in (session.new, session.dirty, session.deleted):
        if any(isinstance(row, _QUEUE_ENTITIES) for row in changed):
            session.info[_QUEUE_CHANGED] = True
            return


def _mark_queue_statements(state: ORMExecuteState) -> None:
    if state.is_select or state.session.info.get(_QUEUE_CHANGED):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _QUEUE_TABLES:
        state.session.info[_QUEUE_CHANGED] = True


def _bump_queue_version(session: Session) -> None:
    if session.in_nested_transaction():
        return  # the outer transaction's commit bumps
    session.flush()  # changes still pending are part of this transaction: see them first
    if not session.info.pop(_QUEUE_CHANGED, False):
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    # An upsert: the row is made by the migration, or here if it is missing.
    session.execute(
        insert(QueueVersion)
        .values(id=1, version=1, created_at=utcnow())
        .on_conflict_do_update(
            index_elements=[QueueVersion.id], set_={"version": QueueVersion.version + 1}
        )
    )


event.listen(Session, "after_flush", _mark_flushed_queue_rows)
event.listen(Session, "do_orm_execute", _mark_queue_statements)
event.listen(Session, "before_commit", _bump_queue_version)


def get_item(item_id: int) -> ReviewItem:
    item = db.session.get(ReviewItem, item_id)
    if item is None:
        raise NotFound("There is no such review item.")
    return item


def flags_of(item: ReviewItem) -> list[Flag]:
    return list(
        db.session.execute(
            db.select(Flag)
            .where(Flag.item_id == item.id)
            .options(joinedload(Flag.reporter))
            .order_by(Flag.id)
        ).scalars()
    )


# --- appeals -----------------------------------------------------------------------------


def _appeal_message(message: str | None) -> str:
    text = clean_multiline(message).strip()
    if not text:
        raise ServiceError("Please say why the decision should be looked at again.", "message")
    if len(text) > MAX_NOTE_CHARS:
        raise ServiceError(f"Please keep it under {MAX_NOTE_CHARS:,} characters.", "message")
    return text


def can_appeal_item(user: User, item: ReviewItem) -> bool:
    return (
        user.is_authenticated
        and item.snapshot_author_id == user.id
        and item.state in (ItemState.REMOVED, ItemState.HIDDEN)
        and item.decided_by_id is not None
    )


def appeal_item(author: User, item: ReviewItem, message: str | None) -> Appeal:
    """Ask once for a removal (or hiding) to be looked at again by another moderator."""
    if not author.is_authenticated or item.snapshot_author_id != author.id:
        raise NotFound("There is nothing here to appeal.")
    existing = db.session.execute(db.select(Appeal.id).where(Appeal.item_id == item.id)).first()
    if existing is not None:
        raise Conflict("You have already appealed this decision. An appeal can be made once.")
    if not can_appeal_item(author, item):
        raise ServiceError("Only a removed or hidden post can be appealed.")
    text = _appeal_message(message)
    appeal = Appeal(
        appellant_id=author.id,
        item_id=item.id,
        original_moderator_id=item.decided_by_id,
        previous_state=item.state,
        message=text,
        state=AppealState.PENDING,
        created_at=utcnow(),
        version=0,
    )
    db.session.add(appeal)
    item.state = ItemState.APPEALED
    item.version += 1
    item.updated_at = utcnow()
    db.session.flush()
    return appeal


def appeal_sanction(user: User, sanction: Sanction, message: str | None) -> Appeal:
    if not user.is_authenticated or sanction.user_id != user.id:
        raise NotFound("There is nothing here to appeal.")
    existing = db.session.execute(
        db.select(Appeal.id).where(Appeal.sanction_id == sanction.id)
    ).first()
    if existing is not None:
        raise Conflict("You have already appealed this. An appeal can be made once.")
    if sanction.lifted_at is not None or sanction.ends_at <= utcnow():
        raise ServiceError("This has already ended, so there is nothing to appeal.")
    appeal = Appeal(
        appellant_id=user.id,
        sanction_id=sanction.id,
        original_moderator_id=sanction.created_by_id,
        message=_appeal_message(message),
        state=AppealState.PENDING,
        created_at=utcnow(),
        version=0,
    )
    db.session.add(appeal)
    db.session.flush()
    return appeal


def get_appeal(appeal_id: int) -> Appeal:
    appeal = db.session.get(Appeal, appeal_id)
    if appeal is None:
        raise NotFound("There is no such appeal.")
    return appeal


def decide_appeal(
    moderator: User,
    appeal: Appeal,
    outcome: str,
    reason: str | None,
    expected_version: int,
) -> Appeal:
    """Uphold or overturn; a different moderator from the one who decided must do it."""
    _require_moderator(moderator)
    try:
        result = AppealState(outcome)
    except ValueError:
        raise ServiceError("Please choose an outcome.", field="outcome") from None
    if result == AppealState.PENDING:
        raise ServiceError("Please choose an outcome.", field="outcome")
    words = _reason(reason)
    if appeal.original_moderator_id == moderator.id:
        raise PermissionDenied(
            "You made the decision this appeal is about, so a different moderator must "
            "decide the appeal."
        )
    now = utcnow()
    won = db.session.execute(
        update(Appeal)
        .where(
            Appeal.id == appeal.id,
            Appeal.version == expected_version,
            Appeal.state == AppealState.PENDING,
        )
        .values(
            state=result,
            decided_at=now,
            decided_by_id=moderator.id,
            decision_reason=words,
            version=Appeal.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if _rowcount(won) != 1:
        db.session.refresh(appeal)
        name = appeal.decided_by.display_name if appeal.decided_by else "another moderator"
        raise Conflict(f"This appeal was already decided by {name} a moment ago.")
    db.session.refresh(appeal)
    subject: Any
    if appeal.item is not None:
        item = appeal.item
        post = item.post
        subject = post
        if result == AppealState.OVERTURNED:
            item.state = ItemState.KEPT
            item.decided_by_id = moderator.id
            item.decided_at = now
            item.decision_reason = words
            _set_post_status(moderator, post, PostStatus.VISIBLE, words)
        else:
            item.state = appeal.previous_state or ItemState.REMOVED
        item.version += 1
        item.updated_at = now
        db.session.flush()
    else:
        sanction = appeal.sanction
        assert sanction is not None
        subject = sanction.user
        if result == AppealState.OVERTURNED:
            _lift(moderator, sanction, words)
    audit.record(moderator, f"appeal.{result.value}", subject, words, appeal_id=appeal.id)
    accepted = result == AppealState.OVERTURNED
    title = "Your appeal was accepted" if accepted else "Your appeal was declined"
    _notify(appeal.appellant_id, title, words, item=appeal.item, sanction=appeal.sanction)
    appeal_decided.send(
        sender(),
        appeal=appeal,
        outcome=result,
        reason=words,
        moderator=moderator,
        author=appeal.appellant,
    )
    return appeal


# --- thread locks ------------------------------------------------------------------------


def lock_thread(moderator: User, prompt: Prompt, reason: str | None) -> ThreadLock:
    _require_moderator(moderator)
    words = _reason(reason)
    if thread_lock(prompt.id) is not None:
        raise Conflict("This thread is already locked.")
    lock = ThreadLock(
        prompt_id=prompt.id, locked_by_id=moderator.id, reason=words, created_at=utcnow()
    )
    db.session.add(lock)
    db.session.flush()
    touch_thread(prompt.id)  # readers' cached pages show the lock
    audit.record(moderator, "thread.locked", prompt, words)
    return lock


def unlock_thread(moderator: User, prompt: Prompt, reason: str | None) -> None:
    _require_moderator(moderator)
    words = _reason(reason)
    lock = thread_lock(prompt.id)
    if lock is None:
        raise Conflict("This thread isn't locked.")
    db.session.delete(lock)
    db.session.flush()
    touch_thread(prompt.id)
    audit.record(moderator, "thread.unlocked", prompt, words)


# --- sanctions ---------------------------------------------------------------------------


def active_sanctions(user: User) -> list[Sanction]:
    return list(
        db.session.execute(
            db.select(Sanction)
            .where(
                Sanction.user_id == user.id,
                Sanction.lifted_at.is_(None),
                Sanction.ends_at > utcnow(),
            )
            .order_by(Sanction.ends_at.desc(), Sanction.id.desc())
        ).scalars()
    )


def active_sanction(user: User) -> Sanction | None:
    found = active_sanctions(user)
    return found[0] if found else None


def describe_until(sanction: Sanction) -> str:
    if sanction.kind == SanctionKind.BAN:
        return "until a moderator lifts it"
    return "until " + sanction.ends_at.strftime("%-d %B %Y, %H:%M UTC")


def sanction_message(sanction: Sanction) -> str:
    what = {
        SanctionKind.SILENCE: "Your account can't post",
        SanctionKind.SUSPEND: "Your account is suspended from posting",
        SanctionKind.BAN: "Your account is banned from posting",
    }[sanction.kind]
    return f"{what} {describe_until(sanction)}, because: {sanction.reason}"


def _sync_suspension(user: User) -> None:
    ends = [s.ends_at for s in active_sanctions(user)]
    user.suspended_until = max(ends) if ends else None
    db.session.flush()


def apply_sanction(
    moderator: User, user: User, kind: str, reason: str | None, days: int | None
) -> Sanction:
    """Silence or suspend for a number of days, or ban until lifted; the user is told why."""
    _require_moderator(moderator)
    try:
        chosen = SanctionKind(kind)
    except ValueError:
        raise ServiceError("Please choose what to do.", field="kind") from None
    words = _reason(reason)
    if user.id == moderator.id:
        raise PermissionDenied("You can't sanction your own account.")
    if user.has_role(Role.MODERATOR) and moderator.role != Role.ADMIN:
        raise PermissionDenied("Only an admin can sanction a moderator or an admin.")
    now = utcnow()
    if chosen == SanctionKind.BAN:
        ends = BAN_UNTIL
    else:
        if days is None or not 1 <= days <= MAX_SANCTION_DAYS:
            raise ServiceError(
                f"Please choose a number of days from 1 to {MAX_SANCTION_DAYS}.", field="days"
            )
        ends = now + timedelta(days=days)
    sanction = Sanction(
        user_id=user.id,
        kind=chosen,
        reason=words,
        starts_at=now,
        ends_at=ends,
        created_by_id=moderator.id,
    )
    db.session.add(sanction)
    db.session.flush()
    _sync_suspension(user)
    audit.record(
        moderator,
        f"sanction.{chosen.value}",
        user,
        words,
        sanction_id=sanction.id,
        until=ends.isoformat(),
    )
    _notify(user.id, sanction.label + " " + describe_until(sanction), words, sanction=sanction)
    sanction_applied.send(sender(), sanction=sanction, user=user, moderator=moderator, lifted=False)
    return sanction


def _lift(moderator: User, sanction: Sanction, words: str) -> None:
    sanction.lifted_at = utcnow()
    sanction.lifted_by_id = moderator.id
    sanction.lift_reason = words
    db.session.flush()
    _sync_suspension(sanction.user)
    _notify(sanction.user_id, "You can post again", words, sanction=sanction)
    sanction_applied.send(
        sender(), sanction=sanction, user=sanction.user, moderator=moderator, lifted=True
    )


def lift_sanction(moderator: User, sanction: Sanction, reason: str | None) -> Sanction:
    _require_moderator(moderator)
    words = _reason(reason)
    if sanction.lifted_at is not None:
        raise Conflict("This was already lifted.")
    _lift(moderator, sanction, words)
    audit.record(moderator, "sanction.lifted", sanction.user, words, sanction_id=sanction.id)
    return sanction


def get_sanction(sanction_id: int) -> Sanction:
    sanction = db.session.get(Sanction, sanction_id)
    if sanction is None:
        raise NotFound("There is no such sanction.")
    return sanction


def sanctions_of(user: User) -> list[Sanction]:
    return list(
        db.session.execute(
            db.select(Sanction)
            .where(Sanction.user_id == user.id)
            .options(joinedload(Sanction.created_by))
            .order_by(Sanction.id.desc())
        ).scalars()
    )


def appealed_sanction_ids(user: User) -> set[int]:
    return set(
        db.session.execute(
            db.select(Appeal.sanction_id).where(
                Appeal.appellant_id == user.id, Appeal.sanction_id.is_not(None)
            )
        ).scalars()
    )


# --- notes on accounts -------------------------------------------------------------------


def add_account_note(moderator: User, user: User, body: str | None) -> AccountNote:
    _require_moderator(moderator)
    text = clean_multiline(body).strip()
    if not text:
        raise ServiceError("Please write the note.", field="body")
    if len(text) > MAX_NOTE_CHARS:
        raise ServiceError(f"Please keep the note under {MAX_NOTE_CHARS:,} characters.", "body")
    note = AccountNote(user_id=user.id, author_id=moderator.id, body=text, created_at=utcnow())
    db.session.add(note)
    db.session.flush()
    audit.record(moderator, "account.note_added", user, None, note_id=note.id)
    return note


def notes_on(user: User) -> list[AccountNote]:
    return list(
        db.session.execute(
            db.select(AccountNote)
            .where(AccountNote.user_id == user.id)
            .options(joinedload(AccountNote.author))
            .order_by(AccountNote.id.desc())
        ).scalars()
    )


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("There is no such account.")
    return user


# --- watched words -----------------------------------------------------------------------


def watched_words() -> list[WatchedWord]:
    return list(db.session.execute(db.select(WatchedWord).order_by(WatchedWord.phrase)).scalars())


def add_watched_word(moderator: User, phrase: str | None, action: str | None) -> WatchedWord:
    _require_moderator(moderator)
    text = clean_line(phrase)
    if not normalise_text(text):
        raise ServiceError("Please write a word or phrase.", field="phrase")
    if len(text) > MAX_PHRASE_CHARS:
        raise ServiceError(f"Please keep it under {MAX_PHRASE_CHARS} characters.", "phrase")
    try:
        chosen = WatchAction(action or "")
    except ValueError:
        raise ServiceError("Please choose what it does.", field="action") from None
    clash = db.session.execute(
        db.select(WatchedWord.id).where(func.lower(WatchedWord.phrase) == text.lower())
    ).first()
    if clash is not None:
        raise ServiceError("That word or phrase is already on the list.", field="phrase")
    word = WatchedWord(phrase=text, action=chosen, created_by_id=moderator.id, created_at=utcnow())
    db.session.add(word)
    db.session.flush()
    audit.record(
        moderator,
        "watched_word.added",
        word,
        None,
        phrase=text,
        word_action=chosen.value,
    )
    return word


def remove_watched_word(moderator: User, word_id: int) -> None:
    _require_moderator(moderator)
    word = db.session.get(WatchedWord, word_id)
    if word is None:
        raise NotFound("That word is no longer on the list.")
    audit.record(
        moderator,
        "watched_word.removed",
        word,
        None,
        phrase=word.phrase,
        word_action=word.action.value,
    )
    db.session.delete(word)
    db.session.flush()


# --- what people are told ----------------------------------------------------------------


def notices_query(user: User):
    return (
        db.select(Notice)
        .where(Notice.user_id == user.id)
        .options(joinedload(Notice.item), joinedload(Notice.sanction))
        .order_by(Notice.id.desc())
    )


def appealed_item_ids(user: User) -> set[int]:
    return set(
        db.session.execute(
            db.select(Appeal.item_id).where(
                Appeal.appellant_id == user.id, Appeal.item_id.is_not(None)
            )
        ).scalars()
    )


def moderator_choices() -> list[User]:
    return list(
        db.session.execute(
            db.select(User)
            .where(User.role.in_((Role.MODERATOR, Role.ADMIN)))
            .options(load_only(User.id, User.display_name))
            .order_by(User.display_name)
        ).scalars()
    )


AUDIT_ACTIONS = (
    "moderation.keep",
    "moderation.hide",
    "moderation.remove",
    "moderation.remove_spam",
    "moderation.request_revision",
    "appeal.upheld",
    "appeal.overturned",
    "thread.locked",
    "thread.unlocked",
    "sanction.silence",
    "sanction.suspend",
    "sanction.ban",
    "sanction.lifted",
    "account.note_added",
    "watched_word.added",
    "watched_word.removed",
    "role.changed",
)
