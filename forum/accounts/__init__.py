"""Accounts: sign-up, login, passwords, email changes, roles."""

from flask import Flask


def init_app(app: Flask) -> None:
    from forum.accounts import cli, views
    from forum.accounts.login import init_login

    init_login(app)
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.users_cli)
