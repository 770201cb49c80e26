"""What each person follows: threads and modules, watched, in the digest or muted.

Services flush, never commit: every row they write belongs to the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g
from sqlalchemy import bindparam, select, text

from forum.accounts.models import User
from forum.courses.models import Module, Prompt
from forum.database import utcnow
from forum.extensions import db
from forum.threads.models import Post
from notifications.common import NotificationError, insert_ignoring_duplicates
from notifications.models import Subscription, SubscriptionMode

NO_SUBSCRIPTION = "none"


def find_subscription(
    user_id: int, prompt_id: int | None = None, module_id: int | None = None
) -> Subscription | None:
    """The user's own row for one thread (``prompt_id``) or else one module, if any."""
    query = select(Subscription).where(Subscription.user_id == user_id)
    if prompt_id is not None:
        query = query.where(Subscription.prompt_id == prompt_id)
    else:
        query = query.where(Subscription.module_id == module_id)
    return db.session.execute(query).scalar_one_or_none()


@dataclass(frozen=True)
class SubscriptionState:
    mode: str  # watching | digest | muted | none
    via_module: bool = False  # the state comes from watching the thread's module


# Built once: on every signed-in thread page, building it would cost more than running it.
_THREAD_STATE = select(Subscription.prompt_id, Subscription.mode).where(
    Subscription.user_id == bindparam("user_id"),
    (Subscription.prompt_id == bindparam("prompt_id"))
    | (Subscription.module_id == bindparam("module_id")),
)


def _thread_state(own_mode: str | None, module_mode: str | None) -> SubscriptionState:
    # The thread's own row, else the module's (unless muted there), else none.
    if own_mode is not None:
        return SubscriptionState(own_mode)
    if module_mode is not None and module_mode != SubscriptionMode.MUTED:
        return SubscriptionState(module_mode, via_module=True)
    return SubscriptionState(NO_SUBSCRIPTION)


def thread_subscription_state(user: User | None, prompt: Prompt) -> SubscriptionState | None:
    """What ``user`` gets for this thread: its own row, else the module's, else none."""
    if user is None or not user.is_authenticated:
        return None
    # The thread's row and the module's in one statement (the thread page's budget).
    rows = db.session.execute(
        _THREAD_STATE,
        {"user_id": user.id, "prompt_id": prompt.id, "module_id": prompt.module_id},
    ).all()
    own = next((row.mode for row in rows if row.prompt_id == prompt.id), None)
    module_mode = next((row.mode for row in rows if row.prompt_id is None), None)
    return _thread_state(own, module_mode)


# The reader's rows for a thread (prompts.id) and its module, as columns of the thread
# page's version statement (forum/threads/frames.py: register_thread_variant).
THREAD_VARIANT_COLUMNS = (
    select(Subscription.mode)
    .where(Subscription.user_id == bindparam("reader_id"), Subscription.prompt_id == Prompt.id)
    .scalar_subquery(),
    select(Subscription.mode)
    .where(
        Subscription.user_id == bindparam("reader_id"),
        Subscription.module_id == Prompt.module_id,
    )
    .scalar_subquery(),
)


def thread_subscription_variant(user: User, prompt_ref: tuple[int, int], values: tuple) -> list:
    """The reader's email setting for a thread, from THREAD_VARIANT_COLUMNS' values, as
    the thread page's frame is kept by: [mode, via_module]."""
    state = _thread_state(*values)
    # The page's own email form shows the same state: it needn't be read again.
    g.hearth_thread_email_state = (user.id, prompt_ref[0], state)
    return [state.mode, state.via_module]


def thread_email_state_for_page(user: User, prompt: Prompt) -> SubscriptionState | None:
    """``thread_subscription_state`` for the thread page's email form: the one already read
    for this request's page, if it was."""
    known = g.get("hearth_thread_email_state")
    if known is not None and known[0] == user.id and known[1] == prompt.id:
        return known[2]
    return thread_subscription_state(user, prompt)


def module_subscription_state(user: User | None, module: Module) -> SubscriptionState | None:
    """Whether ``user`` watches this whole module."""
    if user is None or not user.is_authenticated:
        return None
    row = find_subscription(user.id, module_id=module.id)
    return SubscriptionState(row.mode if row else NO_SUBSCRIPTION)


def _set_subscription(
    user: User, mode: str, prompt_id: int | None = None, module_id: int | None = None
) -> str:
    if mode not in {*SubscriptionMode, NO_SUBSCRIPTION}:
        raise NotificationError(
            "Please choose watching, digest, muted or not subscribed.", field="mode"
        )
    row = find_subscription(user.id, prompt_id=prompt_id, module_id=module_id)
    if mode == NO_SUBSCRIPTION:
        if row is not None:
            db.session.delete(row)
    elif row is None:
        # Two tabs saving at once: the unique key keeps one row, and the second one wins.
        db.session.execute(
            insert_ignoring_duplicates(Subscription).values(
                user_id=user.id,
                prompt_id=prompt_id,
                module_id=module_id,
                mode=mode,
                created_at=utcnow(),
            )
        )
        row = find_subscription(user.id, prompt_id=prompt_id, module_id=module_id)
        if row is not None:
            row.mode = SubscriptionMode(mode)
    else:
        row.mode = SubscriptionMode(mode)
    db.session.flush()
    return mode


def set_thread_subscription(user: User, prompt: Prompt, mode: str) -> str:
    """Watch, digest, mute or forget one thread."""
    if not user.is_authenticated:
        raise NotificationError("Please log in to change your subscriptions.")
    return _set_subscription(user, mode, prompt_id=prompt.id)


def set_module_subscription(user: User, module: Module, mode: str) -> str:
    """Watch, digest, mute or forget a whole module."""
    if not user.is_authenticated:
        raise NotificationError("Please log in to change your subscriptions.")
    return _set_subscription(user, mode, module_id=module.id)


def list_subscriptions(user: User) -> list[tuple[Subscription, Prompt | None, Module | None]]:
    """A user's subscriptions with their thread or module, modules first."""
    rows = db.session.execute(
        select(Subscription, Prompt, Module)
        .outerjoin(Prompt, Prompt.id == Subscription.prompt_id)
        .outerjoin(Module, Module.id == Subscription.module_id)
        .where(Subscription.user_id == user.id)
        .order_by(Subscription.prompt_id.is_not(None), Subscription.id)
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


# Every post runs it: text (the same on SQLite and PostgreSQL), because the dialects'
# ON CONFLICT constructs can't be cached and would be compiled again for every post.
_SUBSCRIBE_AUTHOR = text(
    "INSERT INTO notification_subscriptions (user_id, prompt_id, module_id, mode, created_at) "
    "VALUES (:user_id, :prompt_id, NULL, :mode, :created_at) ON CONFLICT DO NOTHING"
).bindparams(
    bindparam("mode", type_=Subscription.__table__.c.mode.type),
    bindparam("created_at", type_=Subscription.__table__.c.created_at.type),
)


def subscribe_author(post: Post) -> None:
    """Posting in a thread subscribes you to it (held posts too: replies will come)."""
    db.session.connection().execute(
        _SUBSCRIBE_AUTHOR,
        {
            "user_id": post.author_id,
            "prompt_id": post.prompt_id,
            "mode": SubscriptionMode.WATCHING,
            "created_at": utcnow(),
        },
    )
