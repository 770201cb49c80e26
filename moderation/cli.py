"""`flask moderation ...`: the queue's state, and the demo's flagged and held posts."""

from __future__ import annotations

import click
from sqlalchemy import func

from forum.extensions import db
from forum.transactions import TransactionalGroup
from moderation.models import ItemState, ReviewItem

moderation_cli = TransactionalGroup("moderation", help="Moderation: the review queue.")


@moderation_cli.command("status")
def status_command() -> None:
    """How many review items are in each state."""
    rows = db.session.execute(
        db.select(ReviewItem.state, func.count(ReviewItem.id)).group_by(ReviewItem.state)
    ).all()
    counts = {state: count for state, count in rows}
    for state in ItemState:
        click.echo(f"{state.value:<20} {counts.get(state, 0)}")


@moderation_cli.command("seed-demo")
def seed_demo_command() -> None:
    """Flag and hold a few demo posts so the moderator's queue has something in it."""
    from moderation.demo import seed_moderation

    click.echo(seed_moderation())
