"""``flask notifications ...``: the delivery worker, digests, and a look at the outbox."""

from __future__ import annotations

import logging

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from forum.extensions import db
from notifications.models import OutboxMessage

notifications_cli = AppGroup("notifications", help="Email notifications: worker and digests.")


@notifications_cli.command("worker")
@click.option("--once", is_flag=True, help="Do what is due now and exit (for cron).")
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 3600),
    default=None,
    help="Seconds between polls (default: NOTIFICATIONS_POLL_INTERVAL).",
)
def worker_command(once: bool, interval: float | None) -> None:
    """Fan out due notifications and send due emails; stops cleanly on SIGTERM."""
    from flask import current_app

    from notifications.worker import run_forever, run_once

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if once:
        report = run_once()
        click.echo(
            f"fanned out {report.fanned_out}, sent {report.sent}, "
            f"retrying {report.retried}, failed {report.failed}"
        )
        return
    interval = interval or float(current_app.config["NOTIFICATIONS_POLL_INTERVAL"])
    click.echo(f"Notification worker running (every {interval:g}s); Ctrl-C or SIGTERM stops it.")
    run_forever(interval)


@notifications_cli.command("digest")
def digest_command() -> None:
    """Queue today's daily digests; running it twice sends each person one."""
    from notifications.worker import queue_digests

    click.echo(f"queued {queue_digests()} digest(s)")


@notifications_cli.command("status")
def status_command() -> None:
    """Count outbox messages by status."""
    rows = db.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    ).all()
    for status, count in sorted(rows):
        click.echo(f"{status:10} {count}")
