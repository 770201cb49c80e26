"""Account rules: creating users, checking passwords, roles.

Services flush and never commit: one request or command is one transaction, committed by
``forum.transactions``. They refuse with ``AccountError`` (a ServiceError), whose message
is written for the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError

from forum import audit, signals
from forum.accounts import tokens
from forum.accounts.models import Role, User, new_session_token
from forum.accounts.passwords import hash_password, needs_rehash, verify_password
from forum.database import utcnow
from forum.extensions import db
from forum.service_errors import PermissionDenied, ServiceError
from forum.signals import sender
from forum.text import clean_line
from forum.urls import external_url, safe_next

EMAIL_MAX = 254
DISPLAY_NAME_MAX = 60
PASSWORD_MIN = 10
PASSWORD_MAX = 256
USERS_PER_PAGE = 50


NON_ASCII_LOCAL_PART = (
    "Please use an address made of plain letters, digits and punctuation before the @: "
    "we can't send email to this one yet."
)


class AccountError(ServiceError):
    """A rule about accounts was broken; the message is meant for the person (422).

    ``field`` names the form field the message belongs to, when there is one.
    """


class TokenError(AccountError):
    """A link from an email is broken, expired, already used or no longer applies.

    Answered with 400 and the "that link didn't work" page (see ``forum.accounts``).
    """

    status = 400


def _on_field(error: AccountError, field: str) -> AccountError:
    """The same refusal, shown beside ``field`` of the form that sent the value."""
    return AccountError(str(error), field=field)


def _app():
    return sender()


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
    """Validate an address and return the form we store and send to; raise AccountError if bad.

    Lower-cased, with an internationalised domain in its ASCII (punycode) form, which
    every mail server accepts. Letters beyond ASCII before the @ need SMTPUTF8, which our
    mail path can't send yet, so such addresses are refused here with a clear message
    rather than accepted and failing later.
    """
    raw = (raw or "").strip()
    if len(raw) > EMAIL_MAX:
        raise AccountError(f"An email address can be at most {EMAIL_MAX} characters.")
    try:
        result = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        if not raw.rpartition("@")[0].isascii() and _valid_with_smtputf8(raw):
            raise AccountError(NON_ASCII_LOCAL_PART) from exc
        raise AccountError("That doesn't look like an email address.") from exc
    normalized = result.ascii_email
    if not normalized or len(normalized) > EMAIL_MAX:
        # Punycode is longer than the letters it spells.
        raise AccountError(f"An email address can be at most {EMAIL_MAX} characters.")
    return normalized.lower()


def _valid_with_smtputf8(raw: str) -> bool:
    """True if ``raw`` is a well-formed address once letters beyond ASCII are allowed."""
    try:
        validate_email(raw, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return False
    return True


def clean_display_name(raw: str | None) -> str:
    """Return the name as shown to others (one clean line); raise AccountError if unusable."""
    name = clean_line(raw)
    if not name:
        raise AccountError("Please enter a display name.")
    if len(name) > DISPLAY_NAME_MAX:
        raise AccountError(f"A display name can be at most {DISPLAY_NAME_MAX} characters.")
    return name


COMMON_PASSWORD = (
    "That password is one of the most common ones, and the first a guesser would try. "  # noqa: S105
    "Please choose another: a few unrelated words work well."
)
PERSONAL_PASSWORD = "Please choose a password that doesn't contain your email address or your name."  # noqa: S105
# Parts of an address or a name shorter than this are too common to refuse inside a password.
_PERSONAL_PART_MIN = 4


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of the most common passwords, lower-cased."""
    text = (Path(__file__).parent / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def check_password_rules(
    password: str | None, email: str | None = None, display_name: str | None = None
) -> str:
    """Return the password if it is acceptable; raise AccountError (a clear message) if not.

    Acceptable: a length within bounds, not on the common-password list (case-insensitive),
    and not containing the email address's local part or the person's display name.
    """
    password = password or ""
    if len(password) < PASSWORD_MIN:
        raise AccountError(f"Please choose a password of at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX:
        raise AccountError(f"A password can be at most {PASSWORD_MAX} characters.")
    folded = password.casefold()
    if folded in common_passwords() or folded.strip() in common_passwords():
        raise AccountError(COMMON_PASSWORD)
    personal = []
    if email:
        personal.append(email.rpartition("@")[0] if "@" in email else email)
        personal.append(email)
    if display_name:
        personal.append(display_name)
    for part in personal:
        part = part.strip().casefold()
        if len(part) >= _PERSONAL_PART_MIN and part in folded:
            raise AccountError(PERSONAL_PASSWORD)
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
    return _insert_user(normalized, name, password, Role(role), confirmed)


def _insert_user(email: str, name: str, password: str, role: Role, confirmed: bool) -> User:
    """Add an account whose fields are already checked; a taken address raises IntegrityError."""
    user = User(
        email=email,
        display_name=name,
        password_hash=hash_password(password),
        role=role,
        session_token=new_session_token(),
        email_confirmed_at=utcnow() if confirmed else None,
    )
    db.session.add(user)
    db.session.flush()
    signals.user_registered.send(_app(), user=user)
    return user


def request_signup(
    email: str, display_name: str, password: str, next_url: str | None = None
) -> User | None:
    """Start a sign-up; the caller's answer must not depend on whether the address is known.

    Returns the new user, or None when the address already has an account (its owner is
    told by email instead).
    """
    try:
        normalized = normalize_email(email)
    except AccountError as error:
        raise _on_field(error, "email") from error
    try:
        name = clean_display_name(display_name)
    except AccountError as error:
        raise _on_field(error, "display_name") from error
    try:
        check_password_rules(password, normalized, name)
    except AccountError as error:
        raise _on_field(error, "password") from error
    existing = get_user_by_email(normalized)
    if existing is None:
        try:
            # A savepoint: when a second sign-up for the same address commits between our
            # look-up and our insert, only the insert is undone, and we answer as for an
            # address that has an account.
            with db.session.begin_nested():
                user = _insert_user(normalized, name, password, Role.PARTICIPANT, False)
        except IntegrityError:
            existing = get_user_by_email(normalized)
            if existing is None:
                raise
        else:
            send_signup_confirmation(user, next_url)
            return user
    hash_password(password)  # spend the same time as a real sign-up
    signals.signup_attempted_for_existing_account.send(
        _app(),
        user=existing,
        login_url=external_url("accounts.login"),
        reset_url=external_url("accounts.forgot_password"),
    )
    return None


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


def end_session(user: User) -> None:
    """Log ``user`` out everywhere: every session and remember-me cookie stops working.

    Both carry the user's session token (see ``User.get_id``), so a new token makes a copy
    of either, taken before logging out, worthless.
    """
    user.session_token = new_session_token()
    db.session.flush()


# --- passwords ------------------------------------------------------------------------


def _set_password(user: User, new_password: str, field: str) -> None:
    try:
        check_password_rules(new_password, user.email, user.display_name)
    except AccountError as error:
        raise _on_field(error, field) from error
    user.password_hash = hash_password(new_password)
    # Every other session and remember-me cookie carries the old token and stops working.
    user.session_token = new_session_token()


def change_password(user: User, current_password: str, new_password: str) -> User:
    """Change a logged-in user's password; every other session of theirs ends."""
    if not verify_password(user.password_hash, current_password or ""):
        raise AccountError("Your current password isn't right.", field="current_password")
    _set_password(user, new_password, field="new_password")
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
    _set_password(user, new_password, field="password")
    if not user.is_confirmed:  # they proved they read mail sent to this address
        user.email_confirmed_at = utcnow()
    user.last_login_at = utcnow()
    db.session.flush()
    signals.password_changed.send(_app(), user=user)
    return user


# --- profile --------------------------------------------------------------------------


def change_display_name(user: User, display_name: str) -> User:
    """Change the name shown beside someone's posts."""
    try:
        user.display_name = clean_display_name(display_name)
    except AccountError as error:
        raise _on_field(error, "display_name") from error
    db.session.flush()
    # Every thread page showing the name is cached under its data version: bump them.
    from forum.threads.services import touch_threads_by_author

    touch_threads_by_author(user.id)
    signals.display_name_changed.send(_app(), user=user)
    return user


def request_email_change(user: User, current_password: str, new_email: str) -> None:
    """Send a confirmation link to a new address; nothing changes until it is followed."""
    if not verify_password(user.password_hash, current_password or ""):
        raise AccountError("Your current password isn't right.", field="current_password")
    try:
        normalized = normalize_email(new_email)
    except AccountError as error:
        raise _on_field(error, "new_email") from error
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
    """Give ``user`` a role, audited. ``actor`` None means the operator's command line."""
    if actor is not None and actor.role != Role.ADMIN:
        raise PermissionDenied("Only an admin can change roles.")
    role = Role(role)
    old_role = Role(user.role)
    if role == old_role:
        return user  # nothing changes, so there is nothing to record or announce
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
    audit.record(actor, "role.changed", user, old_role=old_role.value, new_role=role.value)
    signals.role_changed.send(_app(), user=user, old_role=old_role, new_role=role, actor=actor)
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
        raise PermissionDenied("Only an admin can list accounts.")
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
    query = query.order_by(User.email)
    listing = db.paginate(query, page=max(1, page), per_page=USERS_PER_PAGE, error_out=False)
    if listing.total and page > listing.pages:
        # A page past the end (an old link, a hand-typed number) shows the last one.
        listing = db.paginate(query, page=listing.pages, per_page=USERS_PER_PAGE, error_out=False)
    return UserPage(
        users=list(listing.items),
        page=listing.page,
        pages=max(1, listing.pages),
        total=listing.total or 0,
    )
