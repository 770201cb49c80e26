"""Who may read: by default anyone; with ``HEARTH_READ_REQUIRES_LOGIN`` only people who
have logged in.

The gate is one ``before_request`` hook rather than a decorator on every view, so a page
added later is private by default when the setting is on. The pages a visitor needs in
order to get in stay open, and so does the one-click unsubscribe: an email's unsubscribe
link must work without a login, whatever the operator chose.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_login import current_user

from forum.extensions import login_manager

# Endpoints an anonymous visitor may reach when reading requires a login. Extension
# packages are named here only as strings; the core never imports them.
OPEN_ENDPOINTS = frozenset(
    {
        "static",
        "accounts.login",
        "accounts.logout",
        "accounts.signup",
        "accounts.confirm_signup",
        "accounts.resend_confirmation",
        "accounts.forgot_password",
        "accounts.reset_password",
        "accounts.confirm_email_change",
        "notifications.unsubscribe",
        "notifications.unsubscribe_undo",
    }
)


def is_open_endpoint(endpoint: str | None) -> bool:
    """Whether ``endpoint`` stays reachable without a login when reading requires one."""
    return endpoint in OPEN_ENDPOINTS


def _require_login_to_read():
    # Read at request time, not at start-up, so the setting is the one the app has now.
    if not current_app.config.get("READ_REQUIRES_LOGIN"):
        return None
    if request.method == "OPTIONS" or is_open_endpoint(request.endpoint):
        return None
    if current_user.is_authenticated:
        return None
    # The same answer as @login_required: a redirect to the login page with ?next=.
    return login_manager.unauthorized()


def init_access_policy(app: Flask) -> None:
    """Install the reading gate; it does nothing unless READ_REQUIRES_LOGIN is true."""
    app.before_request(_require_login_to_read)
