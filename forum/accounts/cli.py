"""``flask users create`` and ``flask users set-role``.

Each command is one transaction (``TransactionalGroup``): it commits when the command
returns, rolls back when it raises, and a refusal becomes one line, not a traceback.
"""

from __future__ import annotations

import click

from forum.accounts import services
from forum.accounts.models import Role
from forum.transactions import TransactionalGroup

users_cli = TransactionalGroup("users", help="Manage accounts and roles.")

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
    user = services.create_user(
        email, display_name, password, role=services.parse_role(role), confirmed=True
    )
    click.echo(f"Created {user.email} ({user.role}).")


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role")
def set_role_command(email: str, role: str) -> None:
    """Give an existing account a role."""
    new_role = services.parse_role(role)
    user = services.get_user_by_email(email)
    if user is None:
        raise services.AccountError(f"No account has the email address {email!r}.")
    services.set_role(None, user, new_role)
    click.echo(f"{user.email} is now {user.role}.")
