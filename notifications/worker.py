"""The delivery worker: run the registered jobs that are due (events, digests, sending, and
whatever other packages registered); repeat.

``run_once`` is the cron form (do what is due, return); ``run_forever`` loops with a
poll interval and stops gracefully on SIGTERM or SIGINT, finishing the message in flight
and handing back the rest of its claim.

This is the one module of notifications that commits or rolls back: it is a command, not
a service. Everything it calls flushes only; the commits here decide what is durable when:
a claim before the slow work, each sent message at once, each batch of an event.
"""

from __future__ import annotations

import logging
import signal
import smtplib
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app

from forum.database import utcnow
from forum.extensions import db
from notifications.common import chunks, describe_error
from notifications.delivery import (
    CONNECTION_LOST,
    ClaimedMail,
    DeliveryReport,
    claim_due_messages,
    hand_back,
    make_transport,
    new_worker_id,
    retry_unsent,
    send_one,
)
from notifications.digest import digest_user_ids
from notifications.digest import queue_digests as queue_digests_for
from notifications.events import claim_next_event, record_event_failure, run_event_batch
from notifications.jobs import (
    Job,
    JobContext,
    finish_periodic_run,
    is_due,
    job_runs,
    register_job,
    registered_jobs,
    start_periodic_run,
)

log = logging.getLogger(__name__)

EVENTS_JOB = "events"
DIGESTS_JOB = "digests"
SEND_JOB = "send"


# --- events -----------------------------------------------------------------------------


def fan_out_due(
    max_batches: int = 1000, worker_id: str | None = None, now: datetime | None = None
) -> int:
    """Hand every due event to its handler, one committed batch at a time.

    A batch that raises is rolled back and its event retried later (or set aside after
    too many attempts); the other events go on. Returns the outbox rows offered.
    """
    worker_id = worker_id or new_worker_id()
    queued = 0
    for _ in range(max_batches):
        event = claim_next_event(worker_id, now)
        db.session.commit()  # the claim (and the attempt it counts) outlives a crash
        if event is None:
            break
        event_id, kind = event.id, event.kind
        try:
            batch = run_event_batch(event, worker_id, now)
        except Exception as exc:
            db.session.rollback()
            error = describe_error(exc)
            log.exception("event %s (%s) failed; retrying it later", event_id, kind)
            record_event_failure(event_id, worker_id, error, now)
            db.session.commit()
            continue
        db.session.commit()
        queued += batch.queued
    return queued


# --- sending ----------------------------------------------------------------------------


def deliver(
    claimed: list[ClaimedMail], worker_id: str, stop: threading.Event | None = None
) -> DeliveryReport:
    """Send claimed messages over one connection, committing each outcome at once."""
    report = DeliveryReport()
    if not claimed:
        return report
    should_stop = stop.is_set if stop else (lambda: False)
    # Nothing below reads ORM objects, so no transaction stays open while SMTP talks.
    db.session.commit()
    remaining = list(claimed)
    try:
        with make_transport() as transport:
            while remaining and not should_stop():
                outcome = send_one(transport, remaining[0], worker_id, report)
                remaining.pop(0)
                # Durable before the next message: a kill now repeats nothing.
                db.session.commit()
                if outcome == CONNECTION_LOST:
                    break
    except (smtplib.SMTPException, OSError) as exc:
        # Couldn't connect (or the goodbye failed): temporary, for everything unsent.
        error = describe_error(exc)
        report.errors.append(error)
        retry_unsent(remaining, worker_id, error, report)
        db.session.commit()
        remaining = []
    if remaining:
        if should_stop():
            hand_back(remaining, worker_id, report)
        else:
            retry_unsent(remaining, worker_id, "connection lost", report)
        db.session.commit()
    return report


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
    while total.sent + total.failed + total.retried < limit:
        if stop is not None and stop.is_set():
            break
        claimed = claim_due_messages(worker_id, batch)
        db.session.commit()
        if not claimed:
            break
        report = deliver(claimed, worker_id, stop)
        total.add(report)
        if report.sent == 0 and report.retried:
            break  # the server is down: wait for the next cycle
    return total


# --- digests ----------------------------------------------------------------------------


def queue_digests(now: datetime | None = None, commit_every: int = 50) -> int:
    """Queue today's digest for every user who has something new; safe to run twice."""
    now = now or utcnow()
    queued = 0
    for chunk in chunks(digest_user_ids(), commit_every):
        queued += queue_digests_for(now, chunk)
        db.session.commit()
    return queued


def digests_due(now: datetime, last_success: datetime | None) -> bool:
    """Once a day, after NOTIFICATIONS_DIGEST_HOUR (UTC); never when it is None."""
    hour = current_app.config.get("NOTIFICATIONS_DIGEST_HOUR")
    if hour is None or now.hour < int(hour):
        return False
    return last_success is None or last_success.date() < now.date()


# --- the registered jobs and the cycle ---------------------------------------------------


def _events_job(ctx: JobContext) -> int:
    return fan_out_due(worker_id=ctx.worker_id)


def _digests_job(ctx: JobContext) -> int:
    queued = queue_digests(ctx.now)
    log.info("queued %d digests", queued)
    return queued


def _send_job(ctx: JobContext) -> DeliveryReport:
    return send_due(ctx.worker_id, ctx.stop)


def register_builtin_jobs(app: Flask) -> None:
    """Notifications' own jobs: events first, digests, and sending last."""
    register_job(EVENTS_JOB, _events_job, 0, priority=10, app=app)
    # Checked hourly; digests_due makes it once a day, and again an hour after a failure.
    register_job(DIGESTS_JOB, _digests_job, 3600, priority=50, due=digests_due, app=app)
    register_job(SEND_JOB, _send_job, 0, priority=1000, app=app)


@dataclass
class CycleReport:
    results: dict[str, Any] = field(default_factory=dict)  # job name -> what it returned
    errors: dict[str, str] = field(default_factory=dict)  # job name -> what it raised

    @property
    def fanned_out(self) -> int:
        return int(self.results.get(EVENTS_JOB) or 0)

    @property
    def delivery(self) -> DeliveryReport:
        found = self.results.get(SEND_JOB)
        return found if isinstance(found, DeliveryReport) else DeliveryReport()

    @property
    def sent(self) -> int:
        return self.delivery.sent

    @property
    def retried(self) -> int:
        return self.delivery.retried

    @property
    def failed(self) -> int:
        return self.delivery.failed

    @property
    def busy(self) -> bool:
        return bool(self.errors or self.fanned_out or self.sent or self.retried or self.failed)


def _run_job(job: Job, ctx: JobContext, report: CycleReport) -> None:
    periodic = job.periodic
    if periodic:
        started = start_periodic_run(job, ctx.worker_id, ctx.now)
        db.session.commit()
        if not started:
            return  # another worker took it a moment ago
    error = None
    try:
        report.results[job.name] = job.func(ctx)
        db.session.commit()
    except Exception as exc:
        # One job's trouble must not hold up the others (sending above all).
        db.session.rollback()
        error = describe_error(exc)
        report.errors[job.name] = error
        log.exception("job %s failed", job.name)
    if periodic:
        finish_periodic_run(job, ctx.worker_id, utcnow(), error)
        db.session.commit()


def run_once(stop: threading.Event | None = None, worker_id: str | None = None) -> CycleReport:
    """One cycle: every registered job that is due, in order. Needs an app context."""
    ctx = JobContext(worker_id=worker_id or new_worker_id(), now=utcnow(), stop=stop)
    report = CycleReport()
    jobs = registered_jobs()
    runs = job_runs() if any(job.periodic for job in jobs) else {}
    db.session.commit()
    for job in jobs:
        if ctx.should_stop():
            break
        if not is_due(job, runs.get(job.name), ctx.now):
            continue
        try:
            _run_job(job, ctx, report)
        except Exception as exc:
            # The bookkeeping itself failed (the database went away): next job, next cycle.
            db.session.rollback()
            report.errors[job.name] = describe_error(exc)
            log.exception("job %s could not be run", job.name)
    db.session.remove()
    return report


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
    while not stop.is_set():
        try:
            report = run_once(stop, worker_id)
            if report.busy:
                log.info("%s", report)
        except Exception:
            # A database hiccup must not end the worker; the next cycle retries.
            log.exception("notification worker cycle failed")
            db.session.rollback()
            db.session.remove()
        stop.wait(interval)
