"""``flask facilitators assign|unassign|list``: who facilitates which course."""

from __future__ import annotations

import click

from forum.support import services
from forum.transactions import TransactionalGroup

facilitators_cli = TransactionalGroup("facilitators", help="Assign facilitators to courses.")


@facilitators_cli.command("assign")
@click.argument("email")
@click.argument("course_slug")
def assign_command(email: str, course_slug: str) -> None:
    """Let EMAIL (a facilitator) read COURSE_SLUG's journals and work its queue."""
    made = services.assign_by_email(None, email, course_slug)
    click.echo(f"{made.user.email} facilitates {made.course.slug}.")


@facilitators_cli.command("unassign")
@click.argument("email")
@click.argument("course_slug")
def unassign_command(email: str, course_slug: str) -> None:
    """Stop EMAIL facilitating COURSE_SLUG."""
    if services.unassign_by_email(None, email, course_slug):
        click.echo(f"{email} no longer facilitates {course_slug}.")
    else:
        click.echo(f"{email} did not facilitate {course_slug}; nothing changed.")


@facilitators_cli.command("list")
def list_command() -> None:
    """Every course's facilitators."""
    assignments = services.list_assignments()
    if not assignments:
        click.echo("No facilitators are assigned to any course.")
    for assignment in assignments:
        click.echo(f"{assignment.course.slug}\t{assignment.user.email}")
