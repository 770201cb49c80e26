"""Periodic jobs are registered with the worker; one that raises stops nothing else."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from forum.accounts.models import User
from forum.database import utcnow
from forum.extensions import db
from forum.threads.models import Post
from notifications.jobs import JobContext, register_job, registered_jobs
from notifications.models import JobRun
from notifications.outbox import queue_email
from notifications.worker import run_once
from tests.notifications.helpers import outbox, post_as, subscribe, work


def test_notifications_registers_its_own_jobs_with_sending_last(app):
    with app.app_context():
        names = [job.name for job in registered_jobs()]
    assert names == ["events", "support_escalations", "digests", "send"]


def test_a_registered_job_runs_when_due_and_keeps_its_period(app):
    runs = []

    def tick(ctx: JobContext) -> int:
        runs.append(ctx.worker_id)
        return len(runs)

    register_job("test_tick", tick, every_seconds=3600, app=app)
    work(app)
    assert len(runs) == 1
    work(app)  # a second cycle, or another worker, within the hour: not again
    assert len(runs) == 1
    with app.app_context():
        run = db.session.execute(select(JobRun).filter_by(name="test_tick")).scalar_one()
        assert run.last_error is None and run.claimed_by is None
        assert run.last_succeeded_at == run.last_started_at
        db.session.execute(update(JobRun).values(last_started_at=utcnow() - timedelta(hours=2)))
        db.session.commit()
    work(app)
    assert len(runs) == 2


def test_an_every_cycle_job_runs_in_every_cycle_and_reports_its_result(app):
    register_job("test_every", lambda ctx: "ran", every_seconds=0, app=app)
    with app.app_context():
        assert run_once().results["test_every"] == "ran"
        assert run_once().results["test_every"] == "ran"
        # Jobs that run every cycle need no bookkeeping row.
        assert db.session.execute(select(JobRun).filter_by(name="test_every")).first() is None


def test_a_job_that_raises_is_logged_and_sending_still_happens(app, people, smtp_sink, caplog):
    def boom(ctx: JobContext) -> None:
        db.session.execute(update(User).values(display_name="changed by a broken job"))
        raise RuntimeError("escalation check broke")

    # Before everything else, so it would stop the cycle if anything could.
    register_job("test_boom", boom, every_seconds=0, priority=1, app=app)
    with app.app_context():
        queue_email(db.session.get(User, people["bea"].id), "Hi", "Body", dedupe_key="k")
        db.session.commit()
        with caplog.at_level(logging.ERROR, logger="notifications.worker"):
            report = run_once()
        assert report.errors == {"test_boom": "RuntimeError: escalation check broke"}
        assert report.sent == 1
        # What the broken job wrote was rolled back.
        names = set(db.session.execute(select(User.display_name)).scalars())
        assert "changed by a broken job" not in names
    assert "job test_boom failed" in caplog.text
    assert len(smtp_sink.received) == 1


def test_a_periodic_job_that_raises_records_its_error_and_is_tried_next_period(app, runner):
    calls = []

    def flaky(ctx: JobContext) -> None:
        calls.append(1)
        raise ValueError("no facilitators configured")

    register_job("test_periodic_boom", flaky, every_seconds=600, app=app)
    work(app)
    work(app)
    assert len(calls) == 1
    with app.app_context():
        run = db.session.execute(select(JobRun).filter_by(name="test_periodic_boom")).scalar_one()
        assert run.last_error == "ValueError: no facilitators configured"
        assert run.last_succeeded_at is None and run.claimed_by is None
    status = runner.invoke(args=["notifications", "status"])
    assert "job test_periodic_boom: last run" in status.output
    assert "last error: ValueError: no facilitators configured" in status.output


def test_a_periodic_job_another_worker_is_running_is_skipped(app):
    calls = []
    register_job("test_claimed", lambda ctx: calls.append(1), every_seconds=60, app=app)
    with app.app_context():
        db.session.add(
            JobRun(
                name="test_claimed",
                claimed_by="other-worker",
                claimed_until=utcnow() + timedelta(minutes=5),
            )
        )
        db.session.commit()
    work(app)
    assert calls == []


def test_registering_another_function_under_a_taken_name_is_refused(app):
    def one(ctx):
        return None

    register_job("test_name", one, 60, app=app)
    register_job("test_name", one, 60, app=app)  # init_app run twice: fine
    with pytest.raises(ValueError, match="already registered"):
        register_job("test_name", lambda ctx: None, 60, app=app)


def test_the_digest_job_queues_digests_once_a_day_after_its_hour(app, course, people, smtp_sink):
    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        subscribe([ids["bea"]], prompt_id=course.prompt_id, mode="digest")
        post_as(ids["author"], course.prompt_id, "For the digest.")
        db.session.execute(update(Post).values(created_at=utcnow() - timedelta(minutes=30)))
        db.session.commit()
    work(app)  # NOTIFICATIONS_DIGEST_HOUR is None in these tests: the job never runs
    assert smtp_sink.to("bea@example.com") == []

    app.config["NOTIFICATIONS_DIGEST_HOUR"] = 0
    work(app)
    [digest] = smtp_sink.to("bea@example.com")
    assert str(digest.message["Subject"]) == "Your daily digest: 1 new reflection"
    with app.app_context():
        post_as(ids["author"], course.prompt_id, "Tomorrow's news.")
        # Two hours on: the job looks again, but today's digests are done.
        db.session.execute(
            update(JobRun)
            .where(JobRun.name == "digests")
            .values(last_started_at=utcnow() - timedelta(hours=2))
        )
        db.session.commit()
    work(app)
    assert len(smtp_sink.to("bea@example.com")) == 1
    assert [r.category for r in outbox(app, user_id=ids["bea"])] == ["digest"]
