"""Sign-up, login, password and email pages.

Views hold no transaction logic: ``forum.transactions`` commits a successful POST once,
after the view, and a service's refusal (an ``AccountError``) is turned into the form
shown again (``reshow_form_on_error``) or, for a broken link, the "that link didn't work"
page (registered in ``forum.accounts``).
"""

from __future__ import annotations

import hashlib
import hmac

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from flask_login.config import COOKIE_NAME
from werkzeug.wrappers import Response

from forum.accounts import forms, services
from forum.accounts.access import role_required
from forum.accounts.models import Role, User
from forum.errors import reshow_form_on_error
from forum.extensions import db, limiter
from forum.urls import safe_next

bp = Blueprint("accounts", __name__, url_prefix="/account")

# Status for a form that came back with mistakes: the page is shown again with messages.
INVALID = 422

# --- rate limits ------------------------------------------------------------------------

# What the person tried, for the sentence on the 429 page ({often} says how often).
LIMITED_ACTIONS = {
    "accounts.login": "You've tried to log in {often}.",
    "accounts.signup": "You've tried to sign up {often}.",
    "accounts.resend_confirmation": "You've asked for a new confirmation email {often}.",
    "accounts.forgot_password": "You've asked for a password reset email {often}.",
    "accounts.reset_password": "You've tried to choose a new password {often}.",
    "accounts.change_password": "You've tried to change your password {often}.",
    "accounts.change_email": "You've tried to change your email address {often}.",
}


def _limit_message() -> str:
    """The 429 page's sentence: what was tried too often, and how long to wait.

    Called by Flask-Limiter when a limit is breached; ``current_limit`` is then the
    breached one, and its window says whether a minute, an hour or a day is meant.
    """
    breached = limiter.current_limit
    window = breached.limit.get_expiry() if breached is not None else 60
    if window <= 60:
        often, wait = "several times in a short while", "Please wait a minute, then try again."
    elif window <= 3600:
        often, wait = "many times in the last hour", "Please wait up to an hour, then try again."
    else:
        often, wait = "many times today", "Please try again tomorrow."
    action = LIMITED_ACTIONS.get(request.endpoint or "", "You've tried this {often}.")
    return f"{action.format(often=often)} {wait}"


def _limit(config_key: str):
    """Rate-limit a view's POSTs by the client's address, using a limit from config."""
    return limiter.limit(
        lambda: current_app.config[config_key],
        key_func=get_remote_address,
        methods=["POST"],
        error_message=_limit_message,
    )


def _account_key() -> str:
    """Which account a password attempt is for: the address typed at login, else the
    logged-in user's. Keyed by a keyed hash, so the limiter's storage (Redis) holds no
    email addresses."""
    if request.endpoint == "accounts.login" or not current_user.is_authenticated:
        try:
            raw = request.form.get("email", "")
        except Exception:  # an unreadable body: the view answers it (400, 413)
            raw = ""
        try:
            address = services.normalize_email(raw)
        except services.AccountError:
            address = raw.strip().lower()[: services.EMAIL_MAX]
    else:
        address = current_user.email
    secret = current_app.config["SECRET_KEY"]
    secret = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(secret, address.encode("utf-8", "replace"), hashlib.sha256)
    return "account:" + digest.hexdigest()[:32]


# One budget per account for every form that checks its password, whichever address the
# attempts come from: many addresses guessing one account's password are slowed too.
account_limit = limiter.shared_limit(
    lambda: current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"],
    scope="account-password",
    key_func=_account_key,
    methods=["POST"],
    error_message=_limit_message,
)


# --- helpers ----------------------------------------------------------------------------


def _start_session(user: User, remember: bool = False) -> None:
    """Log ``user`` in on a fresh session, so no earlier session id survives (fixation)."""
    session.clear()
    login_user(user, remember=remember)


def _was_remembered() -> bool:
    return current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME) in request.cookies


def _delete_remember_cookie(response: Response) -> None:
    """Tell the browser to drop the remember-me cookie, with the attributes it was set with."""
    config = current_app.config
    response.delete_cookie(
        config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME),
        path=config.get("REMEMBER_COOKIE_PATH", "/"),
        domain=config.get("REMEMBER_COOKIE_DOMAIN"),
        secure=bool(config.get("REMEMBER_COOKIE_SECURE", False)),
        httponly=bool(config.get("REMEMBER_COOKIE_HTTPONLY", True)),
        samesite=config.get("REMEMBER_COOKIE_SAMESITE"),
    )


# --- sign-up --------------------------------------------------------------------------


@bp.route("/signup", methods=["GET", "POST"])
@_limit("SIGNUP_RATE_LIMIT")
def signup():
    form = forms.SignupForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"), default="")
    if form.validate_on_submit():
        reshow_form_on_error(form, lambda: render_template("accounts/signup.html", form=form))
        # The same page whether the address was new or known (the owner is told by email).
        services.request_signup(
            form.email.data, form.display_name.data, form.password.data, form.next.data
        )
        return render_template("accounts/check_inbox.html")
    status = INVALID if form.errors else 200
    return render_template("accounts/signup.html", form=form), status


@bp.route("/signup/confirm/<token>", methods=["GET", "POST"])
def confirm_signup(token: str):
    form = forms.ConfirmForm()
    if form.validate_on_submit():
        user, next_path = services.confirm_signup(token)
        _start_session(user)
        flash("Your email address is confirmed. Welcome!", "success")
        return redirect(next_path)
    # Mail scanners open links; only a person pressing the button confirms.
    services.peek_signup_token(token)
    return render_template("accounts/confirm_signup.html", form=form)


@bp.route("/signup/resend", methods=["GET", "POST"])
@_limit("SIGNUP_RATE_LIMIT")
def resend_confirmation():
    form = forms.EmailOnlyForm()
    if form.validate_on_submit():
        services.resend_signup_confirmation(form.email.data)
        return render_template("accounts/check_inbox.html", resent=True)
    status = INVALID if form.errors else 200
    return render_template("accounts/resend_confirmation.html", form=form), status


# --- login and logout -----------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@_limit("LOGIN_RATE_LIMIT")
@account_limit
def login():
    form = forms.LoginForm()
    if request.method == "GET":
        next_path = safe_next(request.args.get("next"), default="")
        if current_user.is_authenticated:
            return redirect(next_path or url_for("courses.index"))
        form.next.data = next_path
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            form.form_errors.append("That email and password don't match an account.")
        elif not user.is_confirmed:
            services.send_signup_confirmation(user, form.next.data)
            return render_template("accounts/confirm_needed.html", email=user.email)
        else:
            services.record_login(user)
            _start_session(user, remember=bool(form.remember.data))
            return redirect(safe_next(form.next.data, default=url_for("courses.index")))
    status = INVALID if form.errors or form.form_errors else 200
    return render_template("accounts/login.html", form=form), status


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        # A copy of this session's cookie, or of the remember-me cookie, must not log
        # anyone back in: a new session token ends them all, on every device.
        services.end_session(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You have logged out, on this device and every other.", "info")
    response = redirect(url_for("courses.index"))
    _delete_remember_cookie(response)
    return response


# --- forgotten passwords --------------------------------------------------------------


@bp.route("/forgot-password", methods=["GET", "POST"])
@_limit("PASSWORD_RESET_RATE_LIMIT")
def forgot_password():
    form = forms.EmailOnlyForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        return render_template("accounts/forgot_sent.html")
    status = INVALID if form.errors else 200
    return render_template("accounts/forgot_password.html", form=form), status


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@_limit("PASSWORD_RESET_RATE_LIMIT")
def reset_password(token: str):
    form = forms.ResetPasswordForm()
    if form.validate_on_submit():
        reshow_form_on_error(
            form, lambda: render_template("accounts/reset_password.html", form=form)
        )
        user = services.reset_password(token, form.password.data)
        _start_session(user)
        flash("Your password is changed, and you are logged in.", "success")
        return redirect(url_for("courses.index"))
    services.user_for_reset_token(token)
    status = INVALID if form.errors else 200
    return render_template("accounts/reset_password.html", form=form), status


# --- settings -------------------------------------------------------------------------


def _settings_page(status: int = 200, **bound_forms):
    page_forms = {
        "name_form": forms.DisplayNameForm(
            prefix="name", formdata=None, display_name=current_user.display_name
        ),
        "password_form": forms.ChangePasswordForm(prefix="password", formdata=None),
        "email_form": forms.ChangeEmailForm(prefix="email", formdata=None),
    }
    page_forms.update(bound_forms)
    return render_template("accounts/settings.html", **page_forms), status


@bp.get("/settings")
@login_required
def settings():
    return _settings_page()


@bp.post("/settings/name")
@login_required
def change_name():
    form = forms.DisplayNameForm(prefix="name")
    if not form.validate_on_submit():
        return _settings_page(INVALID, name_form=form)
    reshow_form_on_error(form, lambda: _settings_page(INVALID, name_form=form))
    services.change_display_name(current_user._get_current_object(), form.display_name.data)
    flash("Your display name is saved.", "success")
    return redirect(url_for("accounts.settings"))


@bp.post("/settings/password")
@login_required
@_limit("LOGIN_RATE_LIMIT")
@account_limit
def change_password():
    form = forms.ChangePasswordForm(prefix="password")
    if not form.validate_on_submit():
        return _settings_page(INVALID, password_form=form)
    reshow_form_on_error(form, lambda: _settings_page(INVALID, password_form=form))
    user = services.change_password(
        current_user._get_current_object(), form.current_password.data, form.new_password.data
    )
    # The token changed: log this session in again; every other one has ended.
    login_user(user, remember=_was_remembered())
    flash("Your password is changed. You have been logged out everywhere else.", "success")
    return redirect(url_for("accounts.settings"))


@bp.post("/settings/email")
@login_required
@_limit("LOGIN_RATE_LIMIT")
@account_limit
def change_email():
    form = forms.ChangeEmailForm(prefix="email")
    if not form.validate_on_submit():
        return _settings_page(INVALID, email_form=form)
    reshow_form_on_error(form, lambda: _settings_page(INVALID, email_form=form))
    services.request_email_change(
        current_user._get_current_object(), form.current_password.data, form.new_email.data
    )
    flash(
        "We've sent a link to the new address. Your email changes when you follow it.",
        "success",
    )
    return redirect(url_for("accounts.settings"))


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str):
    form = forms.ConfirmForm()
    if form.validate_on_submit():
        services.confirm_email_change(token)
        flash("Your email address is changed.", "success")
        if current_user.is_authenticated:
            return redirect(url_for("accounts.settings"))
        return redirect(url_for("accounts.login"))
    services.peek_email_change_token(token)
    return render_template("accounts/confirm_email_change.html", form=form)


# --- admin ----------------------------------------------------------------------------


def _admin_page(search: str, page: int, errors: list[str] | None = None):
    listing = services.list_users(current_user, search, page)
    return render_template(
        "accounts/admin_users.html",
        listing=listing,
        search=search,
        error=" ".join(errors or []) or None,
        roles=list(Role),
    )


@bp.route("/admin/users", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_users():
    search = request.args.get("q", "", type=str)
    page = request.args.get("page", 1, type=int)
    if request.method != "POST":
        return _admin_page(search, page)
    form = forms.RoleForm()
    user_id = form.user_id.data or ""
    well_formed = user_id.isascii() and user_id.isdigit() and len(user_id) < 10
    target = None
    if form.validate_on_submit() and well_formed:
        target = db.session.get(User, int(user_id))
    if target is None:
        abort(400, "That role change didn't make sense. Please try again from the list.")
    # A refused change (the last admin stepping down) conflicts with the accounts as
    # they are: the list again, saying why, with 409.
    reshow_form_on_error(form, lambda: _admin_page(search, page, form.form_errors), status=409)
    services.set_role(current_user._get_current_object(), target, Role(form.role.data))
    flash(f"{target.email} is now {target.role}.", "success")
    return redirect(url_for("accounts.admin_users", q=search or None, page=page))
