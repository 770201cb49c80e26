"""Accounts: sign-up, login, passwords, email changes, roles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, g, render_template, request

if TYPE_CHECKING:
    from forum.accounts.services import TokenError

# Where a reader whose link failed can ask for a new one, by the page the link opened.
NEW_LINK_PAGES = {
    "accounts.confirm_signup": "accounts.resend_confirmation",
    "accounts.reset_password": "accounts.forgot_password",
}


def init_app(app: Flask) -> None:
    from forum.accounts import cli, views
    from forum.accounts.login import init_login
    from forum.accounts.services import TokenError

    init_login(app)
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.users_cli)
    # More specific than the app's ServiceError handler, so Flask picks this one.
    app.register_error_handler(TokenError, _link_problem)


def _link_problem(error: TokenError) -> tuple[str, int]:
    """A broken, expired or used link from an email: say so, and offer a new one (400)."""
    from forum.extensions import db

    # Like every refused request: nothing the service flushed before refusing is kept.
    db.session.rollback()
    g.pop("hearth_reshow_form", None)
    page = render_template(
        "accounts/link_problem.html",
        message=str(error),
        again_endpoint=NEW_LINK_PAGES.get(request.endpoint or ""),
    )
    return page, error.status
