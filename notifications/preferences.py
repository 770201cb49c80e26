"""How a person wants discussion email: delivery, excerpts, pauses; and bouncing addresses.

Services flush, never commit: every row they write belongs to the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from forum.accounts.models import User
from forum.database import utcnow
from forum.extensions import db
from notifications.common import NotificationError, insert_ignoring_duplicates
from notifications.models import BouncingAddress, Delivery, NotificationPreference

PAUSE_WEEKS = (1, 2, 4)


def _user_id(user: User | int) -> int:
    return user if isinstance(user, int) else user.id


def get_preferences(user: User | int) -> NotificationPreference:
    """A user's preferences; an unsaved row with the defaults if they never chose."""
    uid = _user_id(user)
    pref = db.session.get(NotificationPreference, uid)
    if pref is None:
        pref = NotificationPreference(
            user_id=uid, delivery=Delivery.IMMEDIATE, include_excerpts=True
        )
    return pref


def saved_preferences(user: User | int) -> NotificationPreference:
    """A user's preferences, added to the session so changes to it are stored."""
    pref = get_preferences(user)
    if pref not in db.session:
        db.session.add(pref)
    return pref


def update_preferences(user: User, delivery: str, include_excerpts: bool) -> NotificationPreference:
    """Choose immediate, daily digest or no discussion email, and whether excerpts appear."""
    try:
        chosen = Delivery(delivery)
    except ValueError:
        raise NotificationError(
            "Please choose how often you'd like discussion email.", field="delivery"
        ) from None
    pref = saved_preferences(user)
    pref.delivery = chosen
    pref.include_excerpts = bool(include_excerpts)
    db.session.flush()
    return pref


def pause_discussion_email(user: User, weeks: int) -> NotificationPreference:
    """Pause all discussion email for one, two or four weeks; nothing else changes."""
    if weeks not in PAUSE_WEEKS:
        raise NotificationError("You can pause email for one, two or four weeks.", field="weeks")
    pref = saved_preferences(user)
    pref.paused_until = utcnow() + timedelta(weeks=weeks)
    db.session.flush()
    return pref


def resume_discussion_email(user: User) -> NotificationPreference:
    """End a pause at once."""
    pref = saved_preferences(user)
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
