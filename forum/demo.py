"""``flask demo seed``: the demo course and one account per role, idempotently."""

import click
from flask import current_app
from flask.cli import AppGroup

from forum.accounts.models import Role
from forum.accounts.services import create_user, get_user_by_email
from forum.courses import DEMO_COURSE_FILE
from forum.courses.services import import_course, read_course_file
from forum.extensions import db

demo_cli = AppGroup("demo", help="Demo data for trying Hearth out.")

DEMO_ACCOUNTS = (
    ("participant@example.com", "Sam (participant)", Role.PARTICIPANT),
    ("participant2@example.com", "Alex (participant)", Role.PARTICIPANT),
    ("facilitator@example.com", "Jordan (facilitator)", Role.FACILITATOR),
    ("moderator@example.com", "Riley (moderator)", Role.MODERATOR),
    ("admin@example.com", "Morgan (admin)", Role.ADMIN),
)
DEMO_PASSWORD = "hearth-demo-password"  # noqa: S105 (public on purpose: demo data)


@demo_cli.command("seed")
@click.option("--force", is_flag=True, help="Seed even outside development mode.")
def seed_command(force: bool) -> None:
    """Import the demo course and create demo accounts; running it twice changes nothing."""
    if current_app.config["ENV"] == "production" and not force:
        raise click.ClickException(
            "Demo accounts have public passwords; refusing in production (use --force)."
        )
    report = import_course(read_course_file(DEMO_COURSE_FILE))
    created = 0
    for email, name, role in DEMO_ACCOUNTS:
        if get_user_by_email(email) is None:
            create_user(email, name, DEMO_PASSWORD, role=role, confirmed=True)
            created += 1
    db.session.commit()
    click.echo(f"{report} {created} demo account(s) created.")
    click.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD})")
    for email, _name, role in DEMO_ACCOUNTS:
        click.echo(f"  {role.value:<12} {email}")
