"""Account rules: creating users, checking passwords, roles. Services flush; callers commit."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, or_

from forum import signals
from forum.accounts import tokens
from forum.accounts.models import Role, User, new_session_token
from forum.accounts.passwords import hash_password, needs_rehash, verify_password
from forum.database import utcnow
from forum.extensions import db
from forum.text import clean_line
from forum.urls import external_url, safe_next

EMAIL_MAX = 254
DISPLAY_NAME_MAX = 60
PASSWORD_MIN = 10
PASSWORD_MAX = 256
USERS_PER_PAGE = 50


class AccountError(ValueError):
    """A rule about accounts was broken; the message is meant for the person.

    ``field`` names the form field the message belongs to, when there is one.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class TokenError(AccountError):
    """A link from an email is broken, expired, already used or no longer applies."""


def _app():
    return current_app._get_current_object()


def _load_token(loader, token: str, what: str) -> dict:
    """Read a link's token, turning a bad or expired one into a message for the person."""
    try:
        return loader(token)
    except tokens.InvalidToken as exc:
        if exc.expired:
            raise TokenError(f"This {what} link has expired. Please ask for a new one.") from exc
        raise TokenError(
            f"This {what} link isn't valid. Please check you copied the whole link from "
            "the email, or ask for a new one."
        ) from exc


# --- checking what people type --------------------------------------------------------


def normalize_email(raw: str) -> str:
    """Validate an address's syntax and return it lower-cased; raise AccountError if bad."""
    raw = (raw or "").strip()
    if len(raw) > EMAIL_MAX:
        raise AccountError(f"An email address can be at most {EMAIL_MAX} characters.")
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise AccountError("That doesn't look like an email address.") from exc
    return result.normalized.lower()


def clean_display_name(raw: str | None) -> str:
    """Return the name as shown to others (one clean line); raise AccountError if unusable."""
    name = clean_line(raw)
    if not name:
        raise AccountError("Please enter a display name.")
    if len(name) > DISPLAY_NAME_MAX:
        raise AccountError(f"A display name can be at most {DISPLAY_NAME_MAX} characters.")
    return name


def check_password_rules(password: str | None) -> str:
    """Return the password if its length is acceptable; raise AccountError if not."""
    password = password or ""
    if len(password) < PASSWORD_MIN:
        raise AccountError(f"Please choose a password of at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX:
        raise AccountError(f"A password can be at most {PASSWORD_MAX} characters.")
    return password


# --- finding and creating -------------------------------------------------------------


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
    """Create an account; raise AccountError if the address is taken or anything is invalid."""
    normalized = normalize_email(email)
    name = clean_display_name(display_name)
    check_password_rules(password)
    if get_user_by_email(normalized) is not None:
        raise AccountError("An account with that email already exists.")
    user = User(
        email=normalized,
        display_name=name,
        password_hash=hash_password(password),
        role=Role(role),
        session_token=new_session_token(),
        email_confirmed_at=utcnow() if confirmed else None,
    )
    db.session.add(user)
    db.session.flush()
    signals.user_registered.send(_app(), user=user)
    return user


def request_signup(email: str, display_name: str, password: str, next_url: str | None = None):
    """Start a sign-up; the caller's answer must not depend on whether the address is known."""
    normalized = normalize_email(email)
    name = clean_display_name(display_name)
    check_password_rules(password)
    existing = get_user_by_email(normalized)
    if existing is not None:
        hash_password(password)  # spend the same time as a real sign-up
        signals.signup_attempted_for_existing_account.send(
            _app(),
            user=existing,
            login_url=external_url("accounts.login"),
            reset_url=external_url("accounts.forgot_password"),
        )
        return None
    user = create_user(normalized, name, password)
    send_signup_confirmation(user, next_url)
    return user


def send_signup_confirmation(user: User, next_url: str | None = None) -> None:
    """Send a fresh confirmation link to an unconfirmed account's address."""
    if user.is_confirmed:
        return
    token = tokens.make_signup_token(user, safe_next(next_url, default=""))
    signals.signup_confirmation_requested.send(
        _app(), user=user, url=external_url("accounts.confirm_signup", token=token)
    )


def resend_signup_confirmation(email: str) -> None:
    """Send another confirmation link if the address belongs to an unconfirmed account."""
    user = get_user_by_email(email)
    if user is not None and not user.is_confirmed:
        send_signup_confirmation(user)


def peek_signup_token(token: str) -> tuple[User, str]:
    """Return the account a sign-up link would confirm and where to go next; change nothing."""
    data = _load_token(tokens.load_signup_token, token, "confirmation")
    user = db.session.get(User, data["uid"])
    if user is None or user.email != data["email"] or user.is_confirmed:
        raise TokenError(
            "This confirmation link has already been used or no longer applies. "
            "If your address is confirmed, please log in."
        )
    return user, safe_next(data.get("next") or None)


def confirm_signup(token: str) -> tuple[User, str]:
    """Confirm the address a sign-up link was sent to; return the user and where to go next."""
    user, next_path = peek_signup_token(token)
    user.email_confirmed_at = utcnow()
    user.last_login_at = utcnow()
    db.session.flush()
    return user, next_path


# --- logging in -----------------------------------------------------------------------


def authenticate(email: str, password: str) -> User | None:
    """Return the user if the password matches, else None; equally slow either way."""
    user = get_user_by_email(email)
    if not verify_password(user.password_hash if user else None, password or ""):
        return None
    assert user is not None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def record_login(user: User) -> None:
    """Note when someone last logged in."""
    user.last_login_at = utcnow()
    db.session.flush()


# --- passwords ------------------------------------------------------------------------


def _set_password(user: User, new_password: str) -> None:
    check_password_rules(new_password)
    user.password_hash = hash_password(new_password)
    # Every other session and remember-me cookie carries the old token and stops working.
    user.session_token = new_session_token()


def change_password(user: User, current_password: str, new_password: str) -> User:
    """Change a logged-in user's password; every other session of theirs ends."""
    if not verify_password(user.password_hash, current_password or ""):
        raise AccountError("Your current password isn't right.", field="current_password")
    _set_password(user, new_password)
    db.session.flush()
    signals.password_changed.send(_app(), user=user)
    return user


def request_password_reset(email: str) -> None:
    """Send a reset link if the address is known; do nothing visible otherwise."""
    user = get_user_by_email(email)
    if user is None:
        return
    token = tokens.make_password_reset_token(user)
    signals.password_reset_requested.send(
        _app(), user=user, url=external_url("accounts.reset_password", token=token)
    )


def user_for_reset_token(token: str) -> User:
    """Return the user a reset link belongs to; raise TokenError if it is expired or used."""
    data = _load_token(tokens.load_password_reset_token, token, "password reset")
    user = db.session.get(User, data["uid"])
    if user is None or data["pw"] != tokens.password_fingerprint(user):
        raise TokenError(
            "This reset link has already been used or is no longer valid. Please ask for a new one."
        )
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a reset link; the link then stops working."""
    user = user_for_reset_token(token)
    _set_password(user, new_password)
    if not user.is_confirmed:  # they proved they read mail sent to this address
        user.email_confirmed_at = utcnow()
    user.last_login_at = utcnow()
    db.session.flush()
    signals.password_changed.send(_app(), user=user)
    return user


# --- profile --------------------------------------------------------------------------


def change_display_name(user: User, display_name: str) -> User:
    """Change the name shown beside someone's posts."""
    user.display_name = clean_display_name(display_name)
    db.session.flush()
    return user


def request_email_change(user: User, current_password: str, new_email: str) -> None:
    """Send a confirmation link to a new address; nothing changes until it is followed."""
    if not verify_password(user.password_hash, current_password or ""):
        raise AccountError("Your current password isn't right.", field="current_password")
    normalized = normalize_email(new_email)
    if normalized == user.email:
        raise AccountError("That is already your email address.", field="new_email")
    if get_user_by_email(normalized) is not None:
        # Answer as if all went well: whether an address has an account is not ours to tell.
        return
    token = tokens.make_email_change_token(user, normalized)
    signals.email_change_requested.send(
        _app(),
        user=user,
        new_email=normalized,
        url=external_url("accounts.confirm_email_change", token=token),
    )


def peek_email_change_token(token: str) -> tuple[User, str]:
    """Return the account and new address an email-change link is for; change nothing."""
    data = _load_token(tokens.load_email_change_token, token, "email change")
    user = db.session.get(User, data["uid"])
    if user is None or user.email != data["old"]:
        raise TokenError("This link has already been used or no longer applies.")
    if get_user_by_email(data["new"]) is not None:
        raise TokenError("That address is no longer available. Your email address has not changed.")
    return user, data["new"]


def confirm_email_change(token: str) -> User:
    """Switch to the new address a change link was sent to, and tell the old address."""
    user, new_email = peek_email_change_token(token)
    old_email = user.email
    user.email = new_email
    if not user.is_confirmed:
        user.email_confirmed_at = utcnow()
    db.session.flush()
    signals.email_changed.send(_app(), user=user, old_email=old_email)
    return user


# --- roles ----------------------------------------------------------------------------


def parse_role(raw: str) -> Role:
    """Turn a role's name into a Role; raise AccountError naming the valid ones."""
    try:
        return Role((raw or "").strip().lower())
    except ValueError as exc:
        names = ", ".join(r.value for r in Role)
        raise AccountError(f"Unknown role {raw!r}. Choose one of: {names}.") from exc


def set_role(actor: User | None, user: User, role: Role) -> User:
    """Give ``user`` a role. ``actor`` None means the operator's command line."""
    if actor is not None and actor.role != Role.ADMIN:
        raise AccountError("Only an admin can change roles.")
    role = Role(role)
    if user.role == Role.ADMIN and role != Role.ADMIN:
        # Lock the admins' rows so two admins demoting each other can't both succeed.
        admins = (
            db.session.execute(db.select(User.id).where(User.role == Role.ADMIN).with_for_update())
            .scalars()
            .all()
        )
        if len(admins) <= 1:
            who = "yourself" if actor is not None and actor.id == user.id else "this account"
            raise AccountError(
                f"You can't remove the admin role from {who}: it is the last admin. "
                "Make someone else an admin first."
            )
    user.role = role
    db.session.flush()
    return user


@dataclass
class UserPage:
    users: list[User]
    page: int
    pages: int
    total: int


def list_users(actor: User, search: str = "", page: int = 1) -> UserPage:
    """One page of accounts for the admin page, optionally matching a search by email/name."""
    if actor.role != Role.ADMIN:
        raise AccountError("Only an admin can list accounts.")
    query = db.select(User)
    term = clean_line(search)[:100]
    if term:
        escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(
            or_(
                func.lower(User.email).like(pattern, escape="\\"),
                func.lower(User.display_name).like(pattern, escape="\\"),
            )
        )
    total = db.session.execute(db.select(func.count()).select_from(query.subquery())).scalar_one()
    pages = max(1, -(-total // USERS_PER_PAGE))
    page = min(max(1, page), pages)
    users = (
        db.session.execute(
            query.order_by(User.email).limit(USERS_PER_PAGE).offset((page - 1) * USERS_PER_PAGE)
        )
        .scalars()
        .all()
    )
    return UserPage(users=list(users), page=page, pages=pages, total=total)
