"""Flask-Login wiring: the cookie carries the user id and the user's session token."""

from flask import Flask

from forum.accounts.models import User
from forum.extensions import db, login_manager


def init_login(app: Flask) -> None:
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def _load_user(cookie_id: str) -> User | None:
        user_id, _, token = cookie_id.partition(":")
        if not user_id.isdigit() or not token:
            return None
        user = db.session.get(User, int(user_id))
        # A rotated token (password changed elsewhere) ends this session.
        if user is None or user.session_token != token:
            return None
        return user
