"""``flask notifications ...``: the delivery worker, digests, and looking after the queue.

``digest``, ``prune`` and ``status`` each run in one transaction (TransactionalGroup:
commit when the command returns, roll back if it raises). The worker is not one of them:
it commits as it goes, in ``notifications.worker``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from forum.database import utcnow
from forum.text import clean_line
from forum.transactions import TransactionalGroup

notifications_cli = TransactionalGroup(
    "notifications", help="Email notifications: worker, digests, status and pruning."
)


@click.command("worker")
@click.option("--once", is_flag=True, help="Do what is due now and exit (for cron).")
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 3600),
    default=None,
    help="Seconds between polls (default: NOTIFICATIONS_POLL_INTERVAL).",
)
@with_appcontext
def worker_command(once: bool, interval: float | None) -> None:
    """Run the registered jobs (events, digests, sending...); stops cleanly on SIGTERM."""
    from notifications.worker import run_forever, run_once

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if once:
        report = run_once()
        click.echo(
            f"fanned out {report.fanned_out}, sent {report.sent}, "
            f"retrying {report.retried}, failed {report.failed}"
        )
        for name, error in report.errors.items():
            click.echo(f"job {name} failed: {error}", err=True)
        return
    interval = interval or float(current_app.config["NOTIFICATIONS_POLL_INTERVAL"])
    click.echo(f"Notification worker running (every {interval:g}s); Ctrl-C or SIGTERM stops it.")
    run_forever(interval)


# Not a transactional command: the worker commits in its own module.
notifications_cli.add_command(worker_command)


@notifications_cli.command("digest")
def digest_command() -> None:
    """Queue today's daily digests; running it twice sends each person one."""
    from notifications.digest import queue_digests

    click.echo(f"queued {queue_digests(utcnow())} digest(s)")


@notifications_cli.command("prune")
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(min=0),
    default=None,
    metavar="DAYS",
    help="Age in days (default: NOTIFICATIONS_PRUNE_AFTER_DAYS).",
)
def prune_command(older_than: float | None) -> None:
    """Delete sent and cancelled mail, and finished events, older than DAYS."""
    from notifications.housekeeping import prune

    days = older_than
    if days is None:
        days = float(current_app.config["NOTIFICATIONS_PRUNE_AFTER_DAYS"])
    report = prune(days)
    click.echo(
        f"pruned {report.messages} message(s) and {report.events} event(s) older than {days:g} days"
    )


def _age(value: timedelta | None) -> str:
    if value is None:
        return "none"
    seconds = int(value.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


@notifications_cli.command("status")
def status_command() -> None:
    """Events and messages by status, the oldest waiting work, and the latest failures."""
    from notifications.housekeeping import queue_status

    status = queue_status()
    click.echo("events:")
    for name, count in sorted(status.events.items()) or [("(none)", 0)]:
        click.echo(f"  {name:10} {count}")
    click.echo("messages:")
    for name, count in sorted(status.messages.items()) or [("(none)", 0)]:
        click.echo(f"  {name:10} {count}")
    click.echo(f"oldest queued message: {_age(status.oldest_waiting_message)}")
    click.echo(f"oldest due event:      {_age(status.oldest_due_event)}")
    for run in status.jobs:
        last = f"{run.last_started_at:%Y-%m-%d %H:%M} UTC" if run.last_started_at else "never"
        error = f", last error: {clean_line(run.last_error)}" if run.last_error else ""
        click.echo(f"job {run.name}: last run {last}{error}")
    if status.failed:
        click.echo(f"failed (latest {len(status.failed)}):")
        for item in status.failed:
            # Stored values may hold control characters (that is often why they failed).
            label, error = clean_line(item.label), clean_line(item.error)
            click.echo(f"  {item.what} {item.id} ({label}): {error}")


@notifications_cli.command("bounces")
@click.argument("source", default="-", type=click.Path(allow_dash=True, exists=True))
def bounces_command(source: str) -> None:
    """Read delivery status notifications (RFC 3464) from stdin, a file or a folder of
    files, and mark each address that failed permanently (5.x.x) bouncing."""
    from pathlib import Path

    from notifications.bounces import BounceReport, process_dsn

    report = BounceReport()
    if source == "-":
        with click.open_file("-", "rb") as stdin:
            report.add(process_dsn(stdin.read()))
    else:
        path = Path(source)
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        for file in files:
            report.add(process_dsn(file.read_bytes()))
    for address in report.bouncing:
        click.echo(f"bouncing: {clean_line(address)}")
    click.echo(
        f"marked {len(report.bouncing)} address(es) bouncing; ignored "
        f"{report.ignored_recipients} other recipient(s) and {report.not_dsn} message(s) "
        "that were not delivery status notifications"
    )
