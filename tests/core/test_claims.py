"""Claim-with-expiry: one holder at a time, expired claims can be taken, races have one winner."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from forum.claims import claim, claim_due, holds_live_claim, release
from forum.database import UTCDateTime, utcnow
from forum.extensions import db

LEASE = timedelta(minutes=10)


class _Base(DeclarativeBase):
    """Its own metadata: this table exists only while these tests run."""


class Job(_Base):
    __tablename__ = "claims_test_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    due: Mapped[bool] = mapped_column(default=True)
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


@pytest.fixture
def jobs(app):
    with app.app_context():
        _Base.metadata.create_all(db.engine)
        db.session.add_all([Job(id=n) for n in range(1, 6)])
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        _Base.metadata.drop_all(db.engine)


def test_one_holder_until_it_expires(jobs):
    with jobs.app_context():
        assert claim(Job, 1, "ana", LEASE)
        assert not claim(Job, 1, "ben", LEASE)
        assert claim(Job, 1, "ana", LEASE)  # renewing your own claim
        job = db.session.get(Job, 1)
        assert holds_live_claim(job, "ana") and not holds_live_claim(job, "ben")
        later = utcnow() + LEASE + timedelta(seconds=1)
        assert claim(Job, 1, "ben", LEASE, now=later)
        assert not release(Job, 1, "ana")
        assert release(Job, 1, "ben")
        assert claim(Job, 1, "ana", LEASE)


def test_a_condition_is_checked_in_the_same_statement(jobs):
    with jobs.app_context():
        db.session.get(Job, 2).due = False
        db.session.flush()
        assert not claim(Job, 2, "ana", LEASE, where=[Job.due.is_(True)])


def test_claim_due_takes_unclaimed_rows_in_order(jobs):
    with jobs.app_context():
        claim(Job, 1, "someone", LEASE)
        taken = claim_due(Job, Job.due.is_(True), [Job.id], "worker-1", LEASE, limit=2)
        assert [job.id for job in taken] == [2, 3]
        again = claim_due(Job, Job.due.is_(True), [Job.id], "worker-2", LEASE, limit=10)
        assert [job.id for job in again] == [4, 5]


def test_two_claimants_at_the_same_moment_one_wins(jobs):
    """Each claimant has its own connection and transaction (on PostgreSQL: real concurrency)."""
    barrier = threading.Barrier(2)
    results: dict[str, bool] = {}

    def attempt(name: str) -> None:
        with jobs.app_context():
            if db.engine.dialect.name == "postgresql":
                # Both transactions are open before either claims: a real race. (SQLite
                # takes its write lock at BEGIN, so there the second simply waits.)
                db.session.execute(db.select(Job.id).where(Job.id == 3)).all()
            barrier.wait(timeout=10)
            results[name] = claim(Job, 3, name, LEASE)
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in ("ana", "ben")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results.values()) == [False, True]
    with jobs.app_context():
        winner = next(name for name, won in results.items() if won)
        assert db.session.get(Job, 3).claimed_by == winner
