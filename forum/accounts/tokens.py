"""Signed, expiring links for email: sign-up confirmation, password reset, email change.

Each kind has its own salt, so a token of one kind is never accepted as another.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from forum.accounts.models import User

SIGNUP_SALT = "signup-confirm"
PASSWORD_RESET_SALT = "password-reset"  # noqa: S105 (a salt name, not a secret)
EMAIL_CHANGE_SALT = "email-change"
MAX_TOKEN_LENGTH = 2000


class InvalidToken(Exception):
    """The token is malformed, tampered with or expired; ``expired`` says which."""

    def __init__(self, expired: bool = False):
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _load(token: str, salt: str, max_age: int, keys: tuple[str, ...]) -> dict[str, Any]:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken()
    try:
        data = _serializer(salt).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise InvalidToken(expired=True) from exc
    except (BadSignature, ValueError, TypeError, UnicodeError) as exc:
        raise InvalidToken() from exc
    if not isinstance(data, dict) or any(key not in data for key in keys):
        raise InvalidToken()
    if not isinstance(data["uid"], int):
        raise InvalidToken()
    return data


def password_fingerprint(user: User) -> str:
    """A short digest of the current password hash: a reset link dies when it changes."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:24]


def make_signup_token(user: User, next_url: str = "") -> str:
    return _serializer(SIGNUP_SALT).dumps({"uid": user.id, "email": user.email, "next": next_url})


def load_signup_token(token: str) -> dict[str, Any]:
    return _load(
        token, SIGNUP_SALT, int(current_app.config["EMAIL_CONFIRM_MAX_AGE"]), ("uid", "email")
    )


def make_password_reset_token(user: User) -> str:
    return _serializer(PASSWORD_RESET_SALT).dumps(
        {"uid": user.id, "pw": password_fingerprint(user)}
    )


def load_password_reset_token(token: str) -> dict[str, Any]:
    return _load(
        token,
        PASSWORD_RESET_SALT,
        int(current_app.config["PASSWORD_RESET_MAX_AGE"]),
        ("uid", "pw"),
    )


def make_email_change_token(user: User, new_email: str) -> str:
    return _serializer(EMAIL_CHANGE_SALT).dumps(
        {"uid": user.id, "new": new_email, "old": user.email}
    )


def load_email_change_token(token: str) -> dict[str, Any]:
    return _load(
        token,
        EMAIL_CHANGE_SALT,
        int(current_app.config["EMAIL_CONFIRM_MAX_AGE"]),
        ("uid", "new", "old"),
    )
