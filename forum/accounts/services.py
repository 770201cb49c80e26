"""Account rules: creating users, checking passwords, roles. Services flush; callers commit."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask import current_app

from forum.accounts.models import Role, User, new_session_token
from forum.accounts.passwords import hash_password, needs_rehash, verify_password
from forum.database import utcnow
from forum.extensions import db
from forum.signals import user_registered


class AccountError(ValueError):
    """A rule about accounts was broken; the message is meant for the person."""


def normalize_email(raw: str) -> str:
    """Validate an address's syntax and return it lower-cased; raise AccountError if bad."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise AccountError("That doesn't look like an email address.") from exc
    return result.normalized.lower()


def get_user_by_email(email: str) -> User | None:
    """Find a user by address, case-blind."""
    try:
        normalized = normalize_email(email)
    except AccountError:
        return None
    return db.session.execute(db.select(User).filter_by(email=normalized)).scalar_one_or_none()


def create_user(
    email: str,
    display_name: str,
    password: str,
    role: Role = Role.PARTICIPANT,
    confirmed: bool = False,
) -> User:
    """Create an account; raise AccountError if the address is taken or invalid."""
    normalized = normalize_email(email)
    if get_user_by_email(normalized) is not None:
        raise AccountError("An account with that email already exists.")
    user = User(
        email=normalized,
        display_name=display_name.strip(),
        password_hash=hash_password(password),
        role=Role(role),
        session_token=new_session_token(),
        email_confirmed_at=utcnow() if confirmed else None,
    )
    db.session.add(user)
    db.session.flush()
    user_registered.send(current_app._get_current_object(), user=user)
    return user


def authenticate(email: str, password: str) -> User | None:
    """Return the user if the password matches, else None; equally slow either way."""
    user = get_user_by_email(email)
    if not verify_password(user.password_hash if user else None, password):
        return None
    assert user is not None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def set_role(actor: User | None, user: User, role: Role) -> User:
    """Give ``user`` a role. ``actor`` None means the operator's command line."""
    if actor is not None and actor.role != Role.ADMIN:
        raise AccountError("Only an admin can change roles.")
    user.role = Role(role)
    db.session.flush()
    return user
