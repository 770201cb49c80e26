"""Periodic jobs of the worker: registered, not written into its loop.

A job is a function that takes a :class:`JobContext`, flushes (never commits) and returns
anything worth logging. Notifications registers its own (events, digests, sending); other
packages register theirs (an escalation check) from their ``init_app``:

    register_job("journal_escalations", check_escalations, every_seconds=300, app=app)

Each worker cycle runs every job that is due, in order of ``priority`` (then of
registration), and commits after each; a job that raises is logged and rolled back, and
the others still run. A job with ``every_seconds=0`` runs every cycle. A job with a period
keeps its last run in ``notification_job_runs``, shared by every worker and cron run on
the database, and is claimed while it runs, so one worker at a time runs it. ``due``
narrows when a periodic job runs (e.g. "once a day, after 07:00").

Everything here flushes only; ``notifications.worker`` commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select

from forum import claims
from forum.extensions import db
from notifications.common import insert_ignoring_duplicates
from notifications.models import JobRun

_EXTENSION_KEY = "notifications_jobs"

DuePredicate = Callable[[datetime, datetime | None], bool]


@dataclass
class JobContext:
    """What a job gets: who runs it, the cycle's time, and whether to stop early."""

    worker_id: str
    now: datetime
    stop: threading.Event | None = None

    def should_stop(self) -> bool:
        return self.stop is not None and self.stop.is_set()


JobFunc = Callable[[JobContext], Any]


@dataclass(frozen=True)
class Job:
    name: str
    func: JobFunc
    every_seconds: float
    priority: int = 100
    # Given the time and the start of the job's last successful run (None: never),
    # whether it may run now; a failed run is tried again after every_seconds.
    due: DuePredicate | None = None
    order: int = field(default=0, compare=False)

    @property
    def periodic(self) -> bool:
        return self.every_seconds > 0 or self.due is not None


def _jobs(app: Flask | None = None) -> dict[str, Job]:
    # Per app, like the signal receivers: tests build many apps in one process.
    target = app if app is not None else current_app
    return target.extensions.setdefault(_EXTENSION_KEY, {})


def register_job(
    name: str,
    func: JobFunc,
    every_seconds: float,
    *,
    priority: int = 100,
    due: DuePredicate | None = None,
    app: Flask | None = None,
) -> Job:
    """Have the worker run ``func`` every ``every_seconds`` (0: every cycle).

    Lower ``priority`` runs first; notifications' own jobs are events (10), digests (50)
    and sending (1000, last, so mail queued by any job goes out in the same cycle).
    """
    if not name or len(name) > 64:
        raise ValueError("a job name is 1 to 64 characters")
    if every_seconds < 0:
        raise ValueError("every_seconds can't be negative")
    jobs = _jobs(app)
    existing = jobs.get(name)
    if existing is not None and existing.func is not func:
        raise ValueError(f"a job named {name!r} is already registered")
    job = Job(name, func, float(every_seconds), priority, due, order=len(jobs))
    if existing is not None:
        job = Job(name, func, float(every_seconds), priority, due, order=existing.order)
    jobs[name] = job
    return job


def unregister_job(name: str, *, app: Flask | None = None) -> None:
    """Forget a job (for tests, and for turning a job off at start-up)."""
    _jobs(app).pop(name, None)


def registered_jobs() -> list[Job]:
    """The current app's jobs in the order a cycle runs them."""
    return sorted(_jobs().values(), key=lambda job: (job.priority, job.order))


def job_runs() -> dict[str, JobRun]:
    """Every periodic job's bookkeeping row, by name."""
    return {run.name: run for run in db.session.execute(select(JobRun)).scalars()}


def is_due(job: Job, run: JobRun | None, now: datetime) -> bool:
    """Whether ``job`` should run now, given its bookkeeping row (None: never ran)."""
    if not job.periodic:
        return True
    last = run.last_started_at if run is not None else None
    if last is not None and now - last < timedelta(seconds=job.every_seconds):
        return False
    if run is not None and run.claimed_until is not None and run.claimed_until >= now:
        return False  # another worker is running it
    succeeded = run.last_succeeded_at if run is not None else None
    return job.due is None or job.due(now, succeeded)


def start_periodic_run(job: Job, worker_id: str, now: datetime) -> bool:
    """Claim a periodic job's row and stamp its start; False if another worker has it."""
    db.session.execute(insert_ignoring_duplicates(JobRun).values(name=job.name))
    run = db.session.execute(select(JobRun).where(JobRun.name == job.name)).scalar_one()
    lease = timedelta(seconds=int(current_app.config["NOTIFICATIONS_CLAIM_LEASE"]))
    if not claims.claim(JobRun, run.id, worker_id, lease, now=now):
        return False
    run.last_started_at = now
    db.session.flush()
    return True


def finish_periodic_run(job: Job, worker_id: str, now: datetime, error: str | None = None) -> None:
    """Record how a periodic job's run ended and let go of its claim."""
    run = db.session.execute(select(JobRun).where(JobRun.name == job.name)).scalar_one_or_none()
    if run is None:
        return
    run.last_finished_at = now
    run.last_error = error[:500] if error else None
    if error is None:
        run.last_succeeded_at = run.last_started_at
    db.session.flush()
    claims.release(JobRun, run.id, worker_id)
