"""Sign-up, login, password and email pages."""

from __future__ import annotations

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
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import IntegrityError

from forum.accounts import forms, services
from forum.accounts.access import role_required
from forum.accounts.models import Role, User
from forum.extensions import db, limiter
from forum.urls import safe_next

bp = Blueprint("accounts", __name__, url_prefix="/account")

# Status for a form that came back with mistakes: the page is shown again with messages.
INVALID = 422


def _limit(config_key: str):
    """Rate-limit a view's POSTs by the client's address, using a limit from config."""
    return limiter.limit(lambda: current_app.config[config_key], methods=["POST"])


def _start_session(user: User, remember: bool = False) -> None:
    """Log ``user`` in on a fresh session, so no earlier session id survives (fixation)."""
    session.clear()
    login_user(user, remember=remember)


def _link_problem(error: services.TokenError, again_endpoint: str | None = None):
    return (
        render_template(
            "accounts/link_problem.html", message=str(error), again_endpoint=again_endpoint
        ),
        400,
    )


def _was_remembered() -> bool:
    return current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies


# --- sign-up --------------------------------------------------------------------------


@bp.route("/signup", methods=["GET", "POST"])
@_limit("SIGNUP_RATE_LIMIT")
def signup():
    form = forms.SignupForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"), default="")
    if form.validate_on_submit():
        try:
            services.request_signup(
                form.email.data, form.display_name.data, form.password.data, form.next.data
            )
            db.session.commit()
        except IntegrityError:
            # Someone signed up with the same address a moment ago: answer as for a known one.
            db.session.rollback()
        return render_template("accounts/check_inbox.html")
    status = INVALID if form.errors else 200
    return render_template("accounts/signup.html", form=form), status


@bp.route("/signup/confirm/<token>", methods=["GET", "POST"])
def confirm_signup(token: str):
    form = forms.ConfirmForm()
    try:
        if form.validate_on_submit():
            user, next_path = services.confirm_signup(token)
            db.session.commit()
            _start_session(user)
            flash("Your email address is confirmed. Welcome!", "success")
            return redirect(next_path)
        # Mail scanners open links; only a person pressing the button confirms.
        services.peek_signup_token(token)
    except services.TokenError as error:
        db.session.rollback()
        return _link_problem(error, "accounts.resend_confirmation")
    return render_template("accounts/confirm_signup.html", form=form)


@bp.route("/signup/resend", methods=["GET", "POST"])
@_limit("SIGNUP_RATE_LIMIT")
def resend_confirmation():
    form = forms.EmailOnlyForm()
    if form.validate_on_submit():
        services.resend_signup_confirmation(form.email.data)
        db.session.commit()
        return render_template("accounts/check_inbox.html", resent=True)
    status = INVALID if form.errors else 200
    return render_template("accounts/resend_confirmation.html", form=form), status


# --- login and logout -----------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@_limit("LOGIN_RATE_LIMIT")
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
            db.session.commit()
            return render_template("accounts/confirm_needed.html", email=user.email)
        else:
            services.record_login(user)
            db.session.commit()
            _start_session(user, remember=bool(form.remember.data))
            return redirect(safe_next(form.next.data, default=url_for("courses.index")))
    status = INVALID if form.errors or form.form_errors else 200
    return render_template("accounts/login.html", form=form), status


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    flash("You have logged out.", "info")
    return redirect(url_for("courses.index"))


# --- forgotten passwords --------------------------------------------------------------


@bp.route("/forgot-password", methods=["GET", "POST"])
@_limit("PASSWORD_RESET_RATE_LIMIT")
def forgot_password():
    form = forms.EmailOnlyForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        db.session.commit()
        return render_template("accounts/forgot_sent.html")
    status = INVALID if form.errors else 200
    return render_template("accounts/forgot_password.html", form=form), status


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@_limit("PASSWORD_RESET_RATE_LIMIT")
def reset_password(token: str):
    form = forms.ResetPasswordForm()
    try:
        if form.validate_on_submit():
            user = services.reset_password(token, form.password.data)
            db.session.commit()
            _start_session(user)
            flash("Your password is changed, and you are logged in.", "success")
            return redirect(url_for("courses.index"))
        services.user_for_reset_token(token)
    except services.TokenError as error:
        db.session.rollback()
        return _link_problem(error, "accounts.forgot_password")
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
    services.change_display_name(current_user, form.display_name.data)
    db.session.commit()
    flash("Your display name is saved.", "success")
    return redirect(url_for("accounts.settings"))


@bp.post("/settings/password")
@login_required
@_limit("LOGIN_RATE_LIMIT")
def change_password():
    form = forms.ChangePasswordForm(prefix="password")
    if form.validate_on_submit():
        try:
            user = services.change_password(
                current_user, form.current_password.data, form.new_password.data
            )
        except services.AccountError as error:
            db.session.rollback()
            form.current_password.errors.append(str(error))
        else:
            db.session.commit()
            # The token changed: log this session in again; every other one has ended.
            login_user(user, remember=_was_remembered())
            flash("Your password is changed. You have been logged out everywhere else.", "success")
            return redirect(url_for("accounts.settings"))
    return _settings_page(INVALID, password_form=form)


@bp.post("/settings/email")
@login_required
@_limit("LOGIN_RATE_LIMIT")
def change_email():
    form = forms.ChangeEmailForm(prefix="email")
    if form.validate_on_submit():
        try:
            services.request_email_change(
                current_user, form.current_password.data, form.new_email.data
            )
        except services.AccountError as error:
            db.session.rollback()
            field = form.current_password if error.field == "current_password" else form.new_email
            field.errors.append(str(error))
        else:
            db.session.commit()
            flash(
                "We've sent a link to the new address. Your email changes when you follow it.",
                "success",
            )
            return redirect(url_for("accounts.settings"))
    return _settings_page(INVALID, email_form=form)


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str):
    form = forms.ConfirmForm()
    try:
        if form.validate_on_submit():
            services.confirm_email_change(token)
            db.session.commit()
            flash("Your email address is changed.", "success")
            if current_user.is_authenticated:
                return redirect(url_for("accounts.settings"))
            return redirect(url_for("accounts.login"))
        services.peek_email_change_token(token)
    except services.TokenError as error:
        db.session.rollback()
        return _link_problem(error)
    return render_template("accounts/confirm_email_change.html", form=form)


# --- admin ----------------------------------------------------------------------------


@bp.route("/admin/users", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_users():
    search = request.args.get("q", "", type=str)
    page = request.args.get("page", 1, type=int)
    status = 200
    error = None
    if request.method == "POST":
        form = forms.RoleForm()
        user_id = form.user_id.data or ""
        well_formed = user_id.isascii() and user_id.isdigit() and len(user_id) < 10
        target = None
        if form.validate_on_submit() and well_formed:
            target = db.session.get(User, int(user_id))
        if target is None:
            abort(400, "That role change didn't make sense. Please try again from the list.")
        try:
            services.set_role(current_user, target, Role(form.role.data))
        except services.AccountError as exc:
            db.session.rollback()
            error, status = str(exc), 409
        else:
            db.session.commit()
            flash(f"{target.email} is now {target.role}.", "success")
            return redirect(url_for("accounts.admin_users", q=search or None, page=page))
    listing = services.list_users(current_user, search, page)
    return (
        render_template(
            "accounts/admin_users.html",
            listing=listing,
            search=search,
            error=error,
            roles=list(Role),
        ),
        status,
    )
