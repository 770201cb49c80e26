"""Unsubscribe tokens: one short random token per recipient and scope, the footer's links,
and what a one-click unsubscribe (RFC 8058) and its undo change.

Services flush, never commit: every row they write belongs to the caller's transaction.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select

from forum.courses.models import Module, Prompt
from forum.database import utcnow
from forum.extensions import db
from notifications.common import chunks, insert_ignoring_duplicates
from notifications.emails import Footer, link
from notifications.models import Delivery, Subscription, SubscriptionMode, UnsubscribeScope
from notifications.models import UnsubscribeToken as Token
from notifications.preferences import saved_preferences
from notifications.subscriptions import NO_SUBSCRIPTION, find_subscription

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")

TokenKey = tuple[int, str, int]  # (user_id, scope, scope_id)


def ensure_tokens(keys: Iterable[TokenKey]) -> dict[TokenKey, str]:
    """Tokens for (user_id, scope, scope_id) triples, creating the missing ones."""
    wanted = {(uid, str(scope), scope_id) for uid, scope, scope_id in keys}
    if not wanted:
        return {}
    user_ids = sorted({k[0] for k in wanted})

    def _load() -> dict[TokenKey, str]:
        found: dict[TokenKey, str] = {}
        for chunk in chunks(user_ids, 500):
            rows = db.session.execute(
                select(Token.user_id, Token.scope, Token.scope_id, Token.token).where(
                    Token.user_id.in_(chunk)
                )
            ).all()
            for uid, scope, scope_id, token in rows:
                key = (uid, str(scope), scope_id)
                if key in wanted:
                    found[key] = token
        return found

    found = _load()
    missing = wanted - found.keys()
    if missing:
        now = utcnow()
        # Another worker may create the same tokens at the same moment: theirs are kept.
        db.session.execute(
            insert_ignoring_duplicates(Token),
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


def find_token(token: str) -> Token | None:
    """The stored token, or None for unknown, malformed or tampered ones."""
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        return None
    return db.session.execute(select(Token).where(Token.token == token)).scalar_one_or_none()


def token_owner_id(token: str) -> int | None:
    """Who a token belongs to, for rate limiting per address."""
    found = find_token(token)
    return found.user_id if found else None


@dataclass(frozen=True)
class ScopeDescription:
    scope: str
    label: str  # "the thread “…”", "the module “…”", "all discussion email"


def describe_scope(found: Token) -> ScopeDescription:
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


def _scope_keys(found: Token) -> dict[str, int]:
    if found.scope == UnsubscribeScope.THREAD:
        return {"prompt_id": found.scope_id}
    return {"module_id": found.scope_id}


def _scope_exists(found: Token) -> bool:
    if found.scope == UnsubscribeScope.THREAD:
        return db.session.get(Prompt, found.scope_id) is not None
    if found.scope == UnsubscribeScope.MODULE:
        return db.session.get(Module, found.scope_id) is not None
    return True


def unsubscribe(found: Token) -> bool:
    """Stop exactly the scope the token names; returns whether anything changed."""
    if not _scope_exists(found):
        return False
    found.used_at = utcnow()
    if found.scope == UnsubscribeScope.ALL_DISCUSSION:
        pref = saved_preferences(found.user_id)
        if pref.delivery == Delivery.NONE:
            db.session.flush()
            return False
        found.undo_state = pref.delivery.value
        pref.delivery = Delivery.NONE
        db.session.flush()
        return True
    keys = _scope_keys(found)
    row = find_subscription(found.user_id, **keys)
    if row is not None and row.mode == SubscriptionMode.MUTED:
        db.session.flush()
        return False
    found.undo_state = row.mode.value if row else NO_SUBSCRIPTION
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


def undo_unsubscribe(found: Token) -> bool:
    """Put back what the last one-click unsubscribe changed; returns whether it did."""
    previous = found.undo_state
    if previous is None:
        return False
    found.undo_state = None
    if found.scope == UnsubscribeScope.ALL_DISCUSSION:
        pref = saved_preferences(found.user_id)
        if pref.delivery == Delivery.NONE:
            pref.delivery = Delivery(previous)
    else:
        row = find_subscription(found.user_id, **_scope_keys(found))
        if row is not None and row.mode == SubscriptionMode.MUTED:
            if previous == NO_SUBSCRIPTION:
                db.session.execute(delete(Subscription).where(Subscription.id == row.id))
            else:
                row.mode = SubscriptionMode(previous)
    db.session.flush()
    return True
