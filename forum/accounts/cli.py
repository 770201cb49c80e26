"""``flask users create`` and ``flask users set-role``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from forum.accounts import services
from forum.accounts.models import Role
from forum.extensions import db

users_cli = AppGroup("users", help="Manage accounts and roles.")

ROLE_NAMES = [role.value for role in Role]


@users_cli.command("create")
@click.argument("email")
@click.option("--name", "display_name", required=True, help="Display name shown to others.")
@click.option(
    "--role",
    default=Role.PARTICIPANT.value,
    show_default=True,
    help=f"One of: {', '.join(ROLE_NAMES)}.",
)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for when not given (safer: it stays out of your shell history).",
)
def create_command(email: str, display_name: str, role: str, password: str) -> None:
    """Create a confirmed account with a role."""
    try:
        user = services.create_user(
            email, display_name, password, role=services.parse_role(role), confirmed=True
        )
    except services.AccountError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"Created {user.email} ({user.role}).")


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role")
def set_role_command(email: str, role: str) -> None:
    """Give an existing account a role."""
    try:
        new_role = services.parse_role(role)
        user = services.get_user_by_email(email)
        if user is None:
            raise services.AccountError(f"No account has the email address {email!r}.")
        services.set_role(None, user, new_role)
    except services.AccountError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"{user.email} is now {user.role}.")
