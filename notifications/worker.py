"""The delivery worker: fan out due events, claim due messages, send them; repeat.

``run_once`` is the cron form (do what is due, return); ``run_forever`` loops with a
poll interval and stops gracefully on SIGTERM or SIGINT, finishing the message in flight
and handing back the rest of its claim. This module commits: it is a command, not a service.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass

from flask import current_app

from forum.accounts.models import User
from forum.database import utcnow
from forum.extensions import db
from notifications.delivery import DeliveryReport, claim_due_messages, deliver, new_worker_id
from notifications.digest import digest_user_ids, queue_digest_for
from notifications.fanout import fan_out_batch

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    fanned_out: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0

    def add(self, delivery: DeliveryReport) -> None:
        self.sent += delivery.sent
        self.retried += delivery.retried
        self.failed += delivery.failed


def fan_out_due(max_batches: int = 1000) -> int:
    """Fan out every due event, one committed batch at a time."""
    queued = 0
    for _ in range(max_batches):
        try:
            result = fan_out_batch()
        except Exception:
            db.session.rollback()
            raise
        db.session.commit()
        if result is None:
            break
        queued += result.queued
    return queued


def send_due(
    worker_id: str,
    stop: threading.Event | None = None,
    max_messages: int | None = None,
) -> DeliveryReport:
    """Claim and send due messages in batches until none is due (or we are told to stop)."""
    config = current_app.config
    batch = int(config["NOTIFICATIONS_SEND_BATCH"])
    limit = max_messages or int(config["NOTIFICATIONS_MAX_PER_CYCLE"])
    total = DeliveryReport()
    should_stop = stop.is_set if stop else (lambda: False)
    while total.sent + total.failed + total.retried < limit and not should_stop():
        claimed = claim_due_messages(worker_id, batch)
        db.session.commit()
        if not claimed:
            break
        report = deliver(claimed, worker_id, should_stop)
        total.sent += report.sent
        total.failed += report.failed
        total.retried += report.retried
        total.released += report.released
        total.errors.extend(report.errors)
        if report.sent == 0 and report.retried:
            break  # the server is down: wait for the next cycle
    return total


def run_once(stop: threading.Event | None = None, worker_id: str | None = None) -> CycleReport:
    """One cycle: fan out what is due, then send what is due. Needs an app context."""
    worker_id = worker_id or new_worker_id()
    report = CycleReport()
    try:
        report.fanned_out = fan_out_due()
    except Exception:
        # A fan-out problem must not hold up mail that is already queued.
        log.exception("fan-out failed; sending what is queued anyway")
        db.session.rollback()
    report.add(send_due(worker_id, stop))
    db.session.remove()
    return report


def queue_digests(commit_every: int = 50) -> int:
    """Queue today's digest for every user who has something new; safe to run twice."""
    now = utcnow()
    queued = 0
    for index, user_id in enumerate(digest_user_ids(), start=1):
        user = db.session.get(User, user_id)
        if user is not None and queue_digest_for(user, now) is not None:
            queued += 1
        if index % commit_every == 0:
            db.session.commit()
    db.session.commit()
    return queued


def _maybe_digest(last_day: list) -> None:
    hour = current_app.config.get("NOTIFICATIONS_DIGEST_HOUR")
    if hour is None:
        return
    now = utcnow()
    if now.hour >= int(hour) and last_day[0] != now.date():
        queued = queue_digests()
        last_day[0] = now.date()
        log.info("queued %d digests", queued)


def run_forever(interval: float, stop: threading.Event | None = None) -> None:
    """Run cycles until SIGTERM/SIGINT (or ``stop`` is set)."""
    stop = stop or threading.Event()
    worker_id = new_worker_id()

    def _graceful(signum, _frame):
        log.info("signal %s: finishing the message in flight, then stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _graceful)
        signal.signal(signal.SIGINT, _graceful)
    last_digest_day: list = [None]
    while not stop.is_set():
        try:
            _maybe_digest(last_digest_day)
            report = run_once(stop, worker_id)
            if report.sent or report.failed or report.retried or report.fanned_out:
                log.info("%s", report)
        except Exception:
            # A database hiccup must not end the worker; the next cycle retries.
            log.exception("notification worker cycle failed")
            db.session.rollback()
            db.session.remove()
        stop.wait(interval)
