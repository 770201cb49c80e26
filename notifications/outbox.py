"""The outbox: the one builder of outbox rows, and the one way any package queues email.

Every outbox row, whoever causes it (``queue_email``, a new-post fan-out, a digest), is
assembled by :func:`build_outbox_row`: the bodies get their layout and footer, and the
whole message is turned into the bytes that go over SMTP, once, at queue time. The row
stores those bytes and the few header values the worker and the status command read.

Services flush, never commit: every row they write belongs to the caller's transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from forum.accounts.models import User
from forum.courses.models import Module, Prompt
from forum.database import utcnow
from forum.extensions import db
from notifications.common import describe_error, insert_ignoring_duplicates
from notifications.emails import (
    Footer,
    HeaderInjectionError,
    OutgoingMail,
    check_header_value,
    course_list_id,
    digest_list_id,
    discussion_list_id,
    new_message_id,
    raw_message,
    render_email,
    wrap_bodies,
)
from notifications.models import Category, OutboxMessage, OutboxStatus, UnsubscribeScope
from notifications.preferences import discussion_email_allowed
from notifications.unsubscribe import ensure_tokens, footer_for, unsubscribe_url

__all__ = [
    "UNSUPPRESSED_CATEGORIES",
    "Draft",
    "HeaderInjectionError",
    "build_outbox_row",
    "insert_outbox_rows",
    "queue_account_email",
    "queue_email",
    "queue_staff_alert",
]

MAX_SUBJECT_CHARS = 300
MAX_DEDUPE_KEY_CHARS = 200

# Mail that no discussion preference, pause, mute or bounce mark holds back, and that
# carries no unsubscribe footer or List-Unsubscribe header: account mail answers what the
# person just did; staff alerts are part of a staff member's job, not a subscription.
UNSUPPRESSED_CATEGORIES = frozenset({Category.ACCOUNT, Category.STAFF_ALERT})


@dataclass(frozen=True)
class Draft:
    """Everything one outbox row says, before it is built.

    ``text`` and ``html`` are the body without layout or footer; ``html`` is trusted
    markup from an autoescaping template, or None to derive it from the text.
    """

    user_id: int | None
    to_address: str
    category: Category
    dedupe_key: str
    subject: str
    text: str
    html: str | None = None
    footer: Footer | None = None
    list_unsubscribe_url: str | None = None
    list_id: str | None = None  # the List-Id header of discussion and digest mail


def check_subject(subject: str) -> None:
    """Raise for a subject no message may carry (a control character, empty, too long)."""
    check_header_value("Subject", subject)
    if not subject.strip() or len(subject) > MAX_SUBJECT_CHARS:
        raise ValueError(f"an email subject must be 1 to {MAX_SUBJECT_CHARS} characters")


def check_dedupe_key(dedupe_key: str) -> None:
    """Raise unless ``dedupe_key`` is a usable unique key."""
    if not dedupe_key or len(dedupe_key) > MAX_DEDUPE_KEY_CHARS:
        raise ValueError(
            f"an email needs a dedupe_key of at most {MAX_DEDUPE_KEY_CHARS} characters"
        )


def build_outbox_row(draft: Draft, now: datetime) -> dict[str, Any]:
    """The column values of one outbox row: the only place they are put together.

    Raises ValueError for what the caller got wrong (subject, dedupe key). A message that
    can't be written for this recipient (a stored address that isn't ASCII or holds a
    control character, left from before addresses were validated) gives a ``failed`` row
    with the reason instead: one bad recipient never stops a fan-out, and the status
    command shows it.
    """
    check_subject(draft.subject)
    check_dedupe_key(draft.dedupe_key)
    text_body, html_body = wrap_bodies(draft.text, draft.html, draft.footer)
    mail = OutgoingMail(
        to_address=draft.to_address,
        category=draft.category,
        message_id=new_message_id(),
        subject=draft.subject,
        text_body=text_body,
        html_body=html_body,
        list_unsubscribe_url=draft.list_unsubscribe_url,
        list_id=draft.list_id,
    )
    values: dict[str, Any] = {
        "user_id": draft.user_id,
        "to_address": draft.to_address,
        "category": draft.category,
        "dedupe_key": draft.dedupe_key,
        "message_id": mail.message_id,
        "subject": draft.subject,
        "list_unsubscribe_url": draft.list_unsubscribe_url,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    try:
        raw = raw_message(mail, now.timestamp())
    except ValueError as exc:  # HeaderInjectionError and UnicodeEncodeError among them
        values.update(
            raw_message=None,
            status=OutboxStatus.FAILED,
            last_error=f"could not build the message: {describe_error(exc)}"[:500],
        )
    else:
        values.update(raw_message=raw, status=OutboxStatus.QUEUED, last_error=None)
    return values


def insert_outbox_rows(rows: list[dict[str, Any]]) -> None:
    """Insert built rows; a dedupe key already in the outbox keeps its first message."""
    if rows:
        db.session.execute(insert_ignoring_duplicates(OutboxMessage), rows)


def _recipient(user_or_address: User | str) -> tuple[User | None, str]:
    if isinstance(user_or_address, User):
        # A stored address is checked when the message is built: a bad one fails its row.
        return user_or_address, user_or_address.email
    if not isinstance(user_or_address, str) or "@" not in user_or_address:
        raise ValueError("queue_email needs a User or an email address")
    address = user_or_address.strip()
    check_header_value("To", address)
    return None, address


def _category(category: str) -> Category:
    try:
        return Category(category)
    except ValueError:
        raise ValueError(f"unknown email category {category!r}") from None


def _default_list_id(kind: Category, scope: str, scope_id: int) -> str:
    # One stable list per course (RFC 2919), so a reader's filter catches all of it.
    if kind == Category.DIGEST:
        return digest_list_id()
    if scope == UnsubscribeScope.THREAD:
        prompt = db.session.get(Prompt, scope_id)
        if prompt is not None:
            return course_list_id(prompt.module.course)
    elif scope == UnsubscribeScope.MODULE:
        module = db.session.get(Module, scope_id)
        if module is not None:
            return course_list_id(module.course)
    return discussion_list_id()


def queue_email(
    user_or_address: User | str,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    category: str = Category.DISCUSSION,
    dedupe_key: str,
    unsubscribe_scope: tuple[str, int] | None = None,
    list_id: str | None = None,
) -> OutboxMessage | None:
    """Queue one email in the caller's transaction; the one way any package sends mail.

    ``text`` and ``html`` are the message body without footer: discussion and digest mail
    get the unsubscribe footer and headers here, for ``unsubscribe_scope`` (a (scope, id)
    pair like ("thread", prompt_id)) or, by default, all discussion email. ``html`` is
    trusted markup: build it with an autoescaping template. Discussion mail to someone
    who turned it off, paused it, is suspended or bouncing is not queued: returns None.
    Account mail and staff alerts are never suppressed and carry no unsubscribe footer.
    A repeated ``dedupe_key`` returns the first message. Raises HeaderInjectionError for
    CR, LF or other controls in the subject or a given address. A user whose stored
    address can't be written into a message gets a ``failed`` row (see build_outbox_row).
    Discussion and digest mail carry a List-Id: ``list_id`` (from
    ``notifications.emails.list_id``), or by default the course of a thread or module
    scope, the site's digest list for digests, and the site's discussion list otherwise.
    """
    kind = _category(category)
    user, address = _recipient(user_or_address)
    check_subject(subject)
    check_dedupe_key(dedupe_key)

    existing = db.session.execute(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
    ).scalar_one_or_none()
    if existing is not None:
        return existing

    footer = None
    list_unsubscribe = None
    if kind in UNSUPPRESSED_CATEGORIES:
        if unsubscribe_scope is not None:
            raise ValueError(f"{kind.value} email has no unsubscribe link: drop the scope")
        if list_id is not None:
            raise ValueError(f"{kind.value} email is not list mail: drop the list_id")
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
        list_unsubscribe = unsubscribe_url(tokens[(user.id, scope, scope_id)])
        list_id = list_id or _default_list_id(kind, scope, scope_id)

    row = build_outbox_row(
        Draft(
            user_id=user.id if user else None,
            to_address=address,
            category=kind,
            dedupe_key=dedupe_key,
            subject=subject,
            text=text,
            html=html,
            footer=footer,
            list_unsubscribe_url=list_unsubscribe,
            list_id=list_id,
        ),
        utcnow(),
    )
    insert_outbox_rows([row])
    return db.session.execute(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
    ).scalar_one()


def queue_account_email(
    user_or_address: User | str,
    template: str,
    subject: str,
    dedupe_key: str | None = None,
    **ctx: Any,
) -> OutboxMessage | None:
    """Queue an account email (confirmations, resets): never suppressed by preferences."""
    user = user_or_address if isinstance(user_or_address, User) else None
    text, html = render_email(template, user=user, **ctx)
    key = dedupe_key or f"account:{template}:{secrets.token_hex(12)}"
    return queue_email(
        user_or_address, subject, text, html, category=Category.ACCOUNT, dedupe_key=key
    )


def queue_staff_alert(
    user_or_address: User | str,
    subject: str,
    message: str,
    url: str | None = None,
    *,
    dedupe_key: str,
) -> OutboxMessage | None:
    """Queue an operational alert to a staff member (templates/email/staff_alert).

    Never suppressed by discussion preferences, pauses, mutes or the bounce list, and
    without an unsubscribe footer. ``message`` is plain text: never put private writing
    (journal text) in it, only what happened and ``url``, the link to look at it.
    """
    user = user_or_address if isinstance(user_or_address, User) else None
    text, html = render_email("staff_alert", user=user, message=message, url=url)
    return queue_email(
        user_or_address,
        subject,
        text,
        html,
        category=Category.STAFF_ALERT,
        dedupe_key=dedupe_key,
    )
