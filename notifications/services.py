"""Notification rules: subscriptions, preferences, unsubscribe, and the one way to queue mail.

Services flush, never commit: every row they write belongs to the caller's transaction.
Other packages send email with :func:`queue_email` and nothing else.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from forum.accounts.models import User
from forum.courses.models import Module, Prompt
from forum.database import utcnow
from forum.extensions import db
from forum.threads.models import Post, PostStatus
from notifications.emails import (
    Footer,
    HeaderInjectionError,
    OutgoingMail,
    check_header_value,
    link,
    new_message_id,
    raw_message,
    render_email,
    wrap_bodies,
)
from notifications.models import (
    BouncingAddress,
    Category,
    Delivery,
    EventStatus,
    NotificationEvent,
    NotificationPreference,
    OutboxMessage,
    OutboxStatus,
    Subscription,
    SubscriptionMode,
    UnsubscribeScope,
    UnsubscribeToken,
)

__all__ = ["HeaderInjectionError", "queue_email"]

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
PAUSE_WEEKS = (1, 2, 4)
NO_SUBSCRIPTION = "none"
MAX_SUBJECT_CHARS = 300


class NotificationError(ValueError):
    """A rule about notifications was broken; the message is meant for the person."""


# --- small database helpers -------------------------------------------------------------


def insert_ignoring_duplicates(model):
    """INSERT ... ON CONFLICT DO NOTHING for the session's dialect (SQLite or PostgreSQL)."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - Hearth runs on SQLite and PostgreSQL only
        raise RuntimeError(f"unsupported database dialect {dialect}")
    return insert(model).on_conflict_do_nothing()


def _user_id(user: User | int) -> int:
    return user if isinstance(user, int) else user.id


# --- preferences ------------------------------------------------------------------------


def get_preferences(user: User | int) -> NotificationPreference:
    """A user's preferences; an unsaved row with the defaults if they never chose."""
    uid = _user_id(user)
    pref = db.session.get(NotificationPreference, uid)
    if pref is None:
        pref = NotificationPreference(
            user_id=uid, delivery=Delivery.IMMEDIATE, include_excerpts=True
        )
    return pref


def _saved_preferences(user: User | int) -> NotificationPreference:
    pref = get_preferences(user)
    if pref not in db.session:
        db.session.add(pref)
    return pref


def update_preferences(user: User, delivery: str, include_excerpts: bool) -> NotificationPreference:
    """Choose immediate, daily digest or no discussion email, and whether excerpts appear."""
    if delivery not in set(Delivery):
        raise NotificationError("Please choose how often you'd like discussion email.")
    pref = _saved_preferences(user)
    pref.delivery = delivery
    pref.include_excerpts = bool(include_excerpts)
    db.session.flush()
    return pref


def pause_discussion_email(user: User, weeks: int) -> NotificationPreference:
    """Pause all discussion email for one, two or four weeks."""
    if weeks not in PAUSE_WEEKS:
        raise NotificationError("You can pause email for one, two or four weeks.")
    pref = _saved_preferences(user)
    pref.paused_until = utcnow() + timedelta(weeks=weeks)
    db.session.flush()
    return pref


def resume_discussion_email(user: User) -> NotificationPreference:
    """End a pause at once."""
    pref = _saved_preferences(user)
    pref.paused_until = None
    db.session.flush()
    return pref


def is_paused(pref: NotificationPreference, now: datetime | None = None) -> bool:
    """Whether discussion email is paused right now."""
    return pref.paused_until is not None and pref.paused_until > (now or utcnow())


def is_bouncing(address: str) -> bool:
    """Whether the mail server refused this address for good."""
    return db.session.get(BouncingAddress, address.lower()) is not None


def mark_bouncing(address: str, error: str) -> None:
    """Remember that the server refused ``address`` permanently."""
    db.session.execute(
        insert_ignoring_duplicates(BouncingAddress).values(
            email=address.lower(), since=utcnow(), last_error=error[:500]
        )
    )


def discussion_email_allowed(user: User, pref: NotificationPreference | None = None) -> bool:
    """Whether ``user`` may get discussion email at all right now (not digest-specific)."""
    pref = pref or get_preferences(user)
    return (
        user.is_confirmed
        and not user.is_suspended
        and pref.delivery != Delivery.NONE
        and not is_paused(pref)
        and not is_bouncing(user.email)
    )


# --- subscriptions ----------------------------------------------------------------------


def _subscription(user_id: int, prompt_id=None, module_id=None) -> Subscription | None:
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


def thread_subscription_state(user: User | None, prompt: Prompt) -> SubscriptionState | None:
    """What ``user`` gets for this thread: its own row, else the module's, else none."""
    if user is None or not user.is_authenticated:
        return None
    row = _subscription(user.id, prompt_id=prompt.id)
    if row is not None:
        return SubscriptionState(row.mode)
    module_row = _subscription(user.id, module_id=prompt.module_id)
    if module_row is not None and module_row.mode != SubscriptionMode.MUTED:
        return SubscriptionState(module_row.mode, via_module=True)
    return SubscriptionState(NO_SUBSCRIPTION)


def module_subscription_state(user: User | None, module: Module) -> SubscriptionState | None:
    """Whether ``user`` watches this whole module."""
    if user is None or not user.is_authenticated:
        return None
    row = _subscription(user.id, module_id=module.id)
    return SubscriptionState(row.mode if row else NO_SUBSCRIPTION)


def _set_subscription(user: User, mode: str, prompt_id=None, module_id=None) -> str:
    if mode not in {*SubscriptionMode, NO_SUBSCRIPTION}:
        raise NotificationError("Please choose watching, digest, muted or not subscribed.")
    row = _subscription(user.id, prompt_id=prompt_id, module_id=module_id)
    if mode == NO_SUBSCRIPTION:
        if row is not None:
            db.session.delete(row)
    elif row is None:
        db.session.execute(
            insert_ignoring_duplicates(Subscription).values(
                user_id=user.id,
                prompt_id=prompt_id,
                module_id=module_id,
                mode=mode,
                created_at=utcnow(),
            )
        )
        row = _subscription(user.id, prompt_id=prompt_id, module_id=module_id)
        if row is not None:
            row.mode = mode
    else:
        row.mode = mode
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


# --- the new-post event (runs inside create_post's transaction) -------------------------


def record_new_post(post: Post) -> NotificationEvent | None:
    """Subscribe the author to the thread and write one event for the worker to fan out."""
    db.session.execute(
        insert_ignoring_duplicates(Subscription).values(
            user_id=post.author_id,
            prompt_id=post.prompt_id,
            module_id=None,
            mode=SubscriptionMode.WATCHING,
            created_at=utcnow(),
        )
    )
    if post.status != PostStatus.VISIBLE:
        return None
    window = int(current_app.config["NOTIFICATIONS_EDIT_WINDOW"])
    event = NotificationEvent(
        kind="new_post",
        post_id=post.id,
        due_at=utcnow() + timedelta(seconds=window),
        status=EventStatus.PENDING,
        fanout_cursor=0,
        created_at=utcnow(),
    )
    db.session.add(event)
    db.session.flush()
    return event


# --- unsubscribe tokens -----------------------------------------------------------------


def ensure_tokens(keys: Iterable[tuple[int, str, int]]) -> dict[tuple[int, str, int], str]:
    """Tokens for (user_id, scope, scope_id) triples, creating the missing ones."""
    keys = set(keys)
    if not keys:
        return {}
    user_ids = {k[0] for k in keys}

    def _load() -> dict[tuple[int, str, int], str]:
        found: dict[tuple[int, str, int], str] = {}
        for chunk in _chunks(sorted(user_ids), 500):
            rows = db.session.execute(
                select(
                    UnsubscribeToken.user_id,
                    UnsubscribeToken.scope,
                    UnsubscribeToken.scope_id,
                    UnsubscribeToken.token,
                ).where(UnsubscribeToken.user_id.in_(chunk))
            ).all()
            for uid, scope, scope_id, token in rows:
                if (uid, scope, scope_id) in keys:
                    found[(uid, scope, scope_id)] = token
        return found

    found = _load()
    missing = keys - found.keys()
    if missing:
        now = utcnow()
        db.session.execute(
            insert_ignoring_duplicates(UnsubscribeToken),
            [
                {
                    "token": secrets.token_urlsafe(16),
                    "user_id": uid,
                    "scope": scope,
                    "scope_id": scope_id,
                    "created_at": now,
                }
                for uid, scope, scope_id in sorted(missing)
            ],
        )
        found = _load()
    return found


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def unsubscribe_url(token: str) -> str:
    """The one-click link for a token: short, so no mail server folds it."""
    return link("notifications.unsubscribe", token=token)


def footer_for(user_id: int, scope: str | None, scope_id: int, tokens: dict) -> Footer:
    """The footer links for one recipient; ``tokens`` comes from ensure_tokens."""
    all_token = tokens[(user_id, UnsubscribeScope.ALL_DISCUSSION, 0)]
    scope_url = scope_label = None
    if scope in (UnsubscribeScope.THREAD, UnsubscribeScope.MODULE):
        scope_url = unsubscribe_url(tokens[(user_id, scope, scope_id)])
        scope_label = "this thread" if scope == UnsubscribeScope.THREAD else "this module"
    return Footer(
        preferences_url=link("notifications.preferences"),
        all_discussion_url=unsubscribe_url(all_token),
        scope_url=scope_url,
        scope_label=scope_label,
    )


def find_token(token: str) -> UnsubscribeToken | None:
    """The stored token, or None for unknown, malformed or tampered ones."""
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        return None
    return db.session.execute(
        select(UnsubscribeToken).where(UnsubscribeToken.token == token)
    ).scalar_one_or_none()


def token_owner_id(token: str) -> int | None:
    """Who a token belongs to, for rate limiting per address."""
    found = find_token(token)
    return found.user_id if found else None


@dataclass(frozen=True)
class ScopeDescription:
    scope: str
    label: str  # "the thread “…”", "the module “…”", "all discussion email"


def describe_scope(found: UnsubscribeToken) -> ScopeDescription:
    """Words for what a token unsubscribes from."""
    if found.scope == UnsubscribeScope.THREAD:
        prompt = db.session.get(Prompt, found.scope_id)
        title = prompt.title if prompt else "a thread"
        return ScopeDescription(found.scope, f"the thread “{title}”")
    if found.scope == UnsubscribeScope.MODULE:
        module = db.session.get(Module, found.scope_id)
        title = module.title if module else "a module"
        return ScopeDescription(found.scope, f"the module “{title}”")
    return ScopeDescription(found.scope, "all discussion email")


def _scope_keys(found: UnsubscribeToken) -> dict:
    if found.scope == UnsubscribeScope.THREAD:
        return {"prompt_id": found.scope_id}
    return {"module_id": found.scope_id}


def _scope_exists(found: UnsubscribeToken) -> bool:
    if found.scope == UnsubscribeScope.THREAD:
        return db.session.get(Prompt, found.scope_id) is not None
    if found.scope == UnsubscribeScope.MODULE:
        return db.session.get(Module, found.scope_id) is not None
    return True


def unsubscribe(found: UnsubscribeToken) -> bool:
    """Stop exactly the scope the token names; returns whether anything changed."""
    if not _scope_exists(found):
        return False
    found.used_at = utcnow()
    if found.scope == UnsubscribeScope.ALL_DISCUSSION:
        pref = _saved_preferences(found.user_id)
        if pref.delivery == Delivery.NONE:
            db.session.flush()
            return False
        found.undo_state = pref.delivery
        pref.delivery = Delivery.NONE
        db.session.flush()
        return True
    keys = _scope_keys(found)
    row = _subscription(found.user_id, **keys)
    if row is not None and row.mode == SubscriptionMode.MUTED:
        db.session.flush()
        return False
    found.undo_state = row.mode if row else NO_SUBSCRIPTION
    if row is None:
        db.session.add(
            Subscription(
                user_id=found.user_id,
                mode=SubscriptionMode.MUTED,
                created_at=utcnow(),
                prompt_id=keys.get("prompt_id"),
                module_id=keys.get("module_id"),
            )
        )
    else:
        row.mode = SubscriptionMode.MUTED
    db.session.flush()
    return True


def undo_unsubscribe(found: UnsubscribeToken) -> bool:
    """Put back what the last one-click unsubscribe changed; returns whether it did."""
    previous = found.undo_state
    if previous is None:
        return False
    found.undo_state = None
    if found.scope == UnsubscribeScope.ALL_DISCUSSION:
        pref = _saved_preferences(found.user_id)
        if pref.delivery == Delivery.NONE:
            pref.delivery = previous
    else:
        row = _subscription(found.user_id, **_scope_keys(found))
        if row is not None and row.mode == SubscriptionMode.MUTED:
            if previous == NO_SUBSCRIPTION:
                db.session.execute(delete(Subscription).where(Subscription.id == row.id))
            else:
                row.mode = previous
    db.session.flush()
    return True


# --- queueing email ---------------------------------------------------------------------


def _recipient(user_or_address: User | str) -> tuple[User | None, str]:
    if isinstance(user_or_address, User):
        return user_or_address, user_or_address.email
    if not isinstance(user_or_address, str) or "@" not in user_or_address:
        raise ValueError("queue_email needs a User or an email address")
    return None, user_or_address.strip()


def queue_email(
    user_or_address: User | str,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    category: str = Category.DISCUSSION,
    dedupe_key: str,
    unsubscribe_scope: tuple[str, int] | None = None,
) -> OutboxMessage | None:
    """Queue one email in the caller's transaction; the one way any package sends mail.

    ``text`` and ``html`` are the message body without footer: discussion and digest mail
    get the unsubscribe footer and headers here, for ``unsubscribe_scope`` (a (scope, id)
    pair like ("thread", prompt_id)) or, by default, all discussion email. ``html`` is
    trusted markup: build it with an autoescaping template. Discussion mail to someone
    who turned it off, paused it, is suspended or bouncing is not queued: returns None.
    Account mail is never suppressed. A repeated ``dedupe_key`` returns the first message.
    Raises HeaderInjectionError for CR, LF or other controls in the subject or address.
    """
    if category not in set(Category):
        raise ValueError(f"unknown email category {category!r}")
    user, address = _recipient(user_or_address)
    check_header_value("Subject", subject)
    check_header_value("To", address)
    if not subject.strip() or len(subject) > MAX_SUBJECT_CHARS:
        raise ValueError("an email subject must be 1 to 300 characters")
    if not dedupe_key or len(dedupe_key) > 200:
        raise ValueError("an email needs a dedupe_key of at most 200 characters")

    existing = db.session.execute(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
    ).scalar_one_or_none()
    if existing is not None:
        return existing

    list_unsubscribe = None
    if category == Category.ACCOUNT:
        text_body, html_body = wrap_bodies(text, html, None)
    else:
        if user is None:
            raise ValueError("discussion email goes to a user, so they can unsubscribe")
        if not discussion_email_allowed(user):
            return None
        scope, scope_id = unsubscribe_scope or (UnsubscribeScope.ALL_DISCUSSION, 0)
        if scope not in set(UnsubscribeScope):
            raise ValueError(f"unknown unsubscribe scope {scope!r}")
        if scope == UnsubscribeScope.ALL_DISCUSSION:
            scope_id = 0
        keys = {(user.id, UnsubscribeScope.ALL_DISCUSSION, 0), (user.id, scope, scope_id)}
        tokens = ensure_tokens(keys)
        footer = footer_for(user.id, scope, scope_id, tokens)
        text_body, html_body = wrap_bodies(text, html, footer)
        list_unsubscribe = unsubscribe_url(tokens[(user.id, scope, scope_id)])

    now = utcnow()
    mail = OutgoingMail(
        id=0,
        to_address=address,
        category=category,
        message_id=new_message_id(),
        subject=subject,
        text_body=text_body,
        html_body=html_body,
        list_unsubscribe_url=list_unsubscribe,
    )
    db.session.execute(
        insert_ignoring_duplicates(OutboxMessage).values(
            user_id=user.id if user else None,
            to_address=address,
            category=category,
            dedupe_key=dedupe_key,
            message_id=mail.message_id,
            subject=subject,
            text_body=text_body,
            html_body=html_body,
            list_unsubscribe_url=list_unsubscribe,
            raw_message=raw_message(mail, now.timestamp()),
            status=OutboxStatus.QUEUED,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return db.session.execute(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
    ).scalar_one()


def queue_account_email(
    user_or_address: User | str, template: str, subject: str, dedupe_key: str | None = None, **ctx
) -> OutboxMessage | None:
    """Queue an account email (confirmations, resets): never suppressed by preferences."""
    user, _address = _recipient(user_or_address)
    text, html = render_email(template, user=user, **ctx)
    key = dedupe_key or f"account:{template}:{secrets.token_hex(12)}"
    return queue_email(
        user_or_address, subject, text, html, category=Category.ACCOUNT, dedupe_key=key
    )
