"""Flask-Login wiring: the cookie carries the user id and the user's session token."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, flash, redirect, request, url_for
from sqlalchemy import bindparam, select

from forum.accounts.models import User
from forum.extensions import db, login_manager
from forum.urls import safe_next

LOGIN_MESSAGE = "Please log in to continue."
# Built once: on every signed-in request, building the statement (as Session.get does)
# would cost more than running it.
_USER_BY_ID = select(User).where(User.id == bindparam("id"))


def _return_path() -> str | None:
    """Where to come back to after logging in: this page, or for a POST the page it came from."""
    if request.method in {"GET", "HEAD"}:
        path = request.full_path
        return path[:-1] if path.endswith("?") else path
    # A form posted by a reader: go back to the page that showed the form, if it is ours.
    referrer = request.referrer
    if not referrer:
        return None
    parts = urlsplit(referrer)
    ours = {request.host, urlsplit(current_app.config["BASE_URL"]).netloc}
    if parts.netloc not in ours:
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return safe_next(path, default="") or None


def init_login(app: Flask) -> None:
    login_manager.login_view = "accounts.login"
    login_manager.login_message = LOGIN_MESSAGE
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def _load_user(cookie_id: str) -> User | None:
        user_id, _, token = cookie_id.partition(":")
        if not user_id.isdigit() or not token or len(user_id) > 18:
            return None
        user = db.session.execute(_USER_BY_ID, {"id": int(user_id)}).scalar_one_or_none()
        # A rotated token (password changed elsewhere) ends this session.
        if user is None or user.session_token != token:
            return None
        return user

    @login_manager.unauthorized_handler
    def _unauthorized():
        flash(LOGIN_MESSAGE, "info")
        next_path = safe_next(_return_path(), default="")
        if next_path:
            return redirect(url_for("accounts.login", next=next_path))
        return redirect(url_for("accounts.login"))
