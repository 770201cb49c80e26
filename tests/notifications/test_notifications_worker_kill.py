"""A worker killed with SIGKILL mid-batch of 1,000 loses nothing and repeats at most one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from forum.extensions import db
from notifications.models import OutboxMessage
from notifications.worker import fan_out_due
from tests.notifications.helpers import add_users, outbox, post_as, subscribe, work

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).parent / "flask")
COUNT = 1000
SHARED = 600  # two workers, one killed
LEASE = 3


def _worker_env(database_url: str, smtp_port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "FLASK_APP": "wsgi",
            "HEARTH_ENV": "testing",
            "HEARTH_SECRET_KEY": "test-secret-key-" + "x" * 32,
            "HEARTH_SQLALCHEMY_DATABASE_URI": database_url,
            "HEARTH_BASE_URL": "https://hearth.test",
            "HEARTH_MAIL_SERVER": "127.0.0.1",
            "HEARTH_MAIL_PORT": str(smtp_port),
            "HEARTH_MAIL_TIMEOUT": "5",
            "HEARTH_NOTIFICATIONS_TRANSPORT": "smtp",
            "HEARTH_NOTIFICATIONS_CLAIM_LEASE": str(LEASE),
            "HEARTH_NOTIFICATIONS_SEND_BATCH": "50",
            "HEARTH_NOTIFICATIONS_DIGEST_HOUR": "null",
        }
    )
    return env


@pytest.mark.slow
def test_sigkill_mid_batch_loses_nothing(app, database_url, course, people, smtp_sink):
    with app.app_context():
        readers = add_users(COUNT)
        subscribe(readers, prompt_id=course.prompt_id)
        db.session.commit()
        post_as(people["author"].id, course.prompt_id, "To a thousand readers.")
        assert fan_out_due() == COUNT
    rows = outbox(app)
    assert len(rows) == COUNT and {r.status for r in rows} == {"queued"}
    expected_ids = {r.message_id for r in rows}

    smtp_sink.handler.delay = 0.002  # a little slower than loopback, so the kill lands mid-way
    env = _worker_env(database_url, smtp_sink.port)
    worker = subprocess.Popen(
        [FLASK, "notifications", "worker", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while len(smtp_sink.received) < 175 and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
            time.sleep(0.01)
        assert len(smtp_sink.received) >= 175, "the worker sent too little in 60 s"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        worker.stderr.close()

    at_kill = len(smtp_sink.received)
    assert at_kill < COUNT, "the worker finished before it could be killed"
    statuses = Counter(r.status for r in outbox(app))
    assert statuses["sending"] >= 1, (statuses, at_kill)  # its claim was cut short ...
    assert statuses["sending"] <= 50  # ... and was one batch at most

    time.sleep(LEASE + 0.5)  # the dead worker's lease runs out
    finish = subprocess.run(
        [FLASK, "notifications", "worker", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert finish.returncode == 0, finish.stderr.decode()[-2000:]

    received = Counter(r.message_id for r in smtp_sink.received)
    assert set(received) == expected_ids  # every message arrived
    repeats = [mid for mid, n in received.items() if n > 1]
    assert len(repeats) <= 1 and all(received[m] == 2 for m in repeats)  # at most the one in flight
    with app.app_context():
        final = Counter(db.session.execute(select(OutboxMessage.status)).scalars())
    assert final == {"sent": COUNT}


@pytest.mark.slow
def test_sigterm_finishes_the_message_in_flight_and_hands_back_the_rest(
    app, database_url, course, people, smtp_sink
):
    with app.app_context():
        readers = add_users(300)
        subscribe(readers, prompt_id=course.prompt_id)
        db.session.commit()
        post_as(people["author"].id, course.prompt_id, "Stop politely.")
        assert fan_out_due() == 300
    smtp_sink.handler.delay = 0.005
    worker = subprocess.Popen(
        [FLASK, "notifications", "worker", "--interval", "0.2"],
        cwd=ROOT,
        env=_worker_env(database_url, smtp_sink.port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(smtp_sink.received) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    statuses = Counter(r.status for r in outbox(app))
    assert "sending" not in statuses  # nothing waits for a lease to run out
    assert statuses["sent"] == len(smtp_sink.received) < 300
    work(app)
    received = Counter(r.message_id for r in smtp_sink.received)
    assert len(received) == 300 and set(received.values()) == {1}


@pytest.mark.slow
def test_two_workers_one_sigkilled_mid_batch_the_other_finishes_its_claim(
    app, database_url, course, people, smtp_sink
):
    """As deployed (as many workers as you like): two real workers share 600 messages;
    one dies mid-batch, the other takes its claim over when the lease runs out. Every
    message arrives, at most the one in flight twice, and both did part of the work."""
    with app.app_context():
        readers = add_users(SHARED)
        subscribe(readers, prompt_id=course.prompt_id)
        db.session.commit()
        post_as(people["author"].id, course.prompt_id, "Two workers, one thread.")
        assert fan_out_due() == SHARED
    expected_ids = {r.message_id for r in outbox(app)}

    smtp_sink.handler.delay = 0.002
    env = _worker_env(database_url, smtp_sink.port)
    workers = [
        subprocess.Popen(
            [FLASK, "notifications", "worker", "--interval", "0.2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    doomed, survivor = workers

    def held_by_doomed() -> int:
        with app.app_context():
            return db.session.execute(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.status == "sending",
                    OutboxMessage.claimed_by.like(f"%:{doomed.pid}:%"),
                )
            ).scalar_one()

    try:
        # Kill it once both have been sending a while, in the middle of one of its batches
        # (each message's outcome is committed at once, so "sending" rows are still to do).
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert doomed.poll() is None and survivor.poll() is None
            if len(smtp_sink.received) >= 150 and held_by_doomed() >= 20:
                break
            time.sleep(0.02)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        at_kill = len(smtp_sink.received)
        assert at_kill < SHARED, "the workers finished before one could be killed"
        held = held_by_doomed()
        assert 1 <= held <= 50, held  # it died holding (part of) one batch
        # The survivor goes on alone, and after the lease, with the dead one's claim too.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with app.app_context():
                left = db.session.execute(
                    select(func.count(OutboxMessage.id)).where(OutboxMessage.status != "sent")
                ).scalar_one()
            if left == 0:
                break
            assert survivor.poll() is None, survivor.stderr.read().decode()[-2000:]
            time.sleep(0.2)
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(timeout=15) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)
            worker.stderr.close()

    received = Counter(r.message_id for r in smtp_sink.received)
    assert set(received) == expected_ids  # every message arrived
    repeats = [mid for mid, n in received.items() if n > 1]
    assert len(repeats) <= 1 and all(received[m] == 2 for m in repeats)
    with app.app_context():
        final = Counter(db.session.execute(select(OutboxMessage.status)).scalars())
        senders = Counter(db.session.execute(select(OutboxMessage.claimed_by)).scalars())
    assert final == {"sent": SHARED}
    pids = {str(sender).split(":")[1] for sender in senders}
    assert pids == {str(doomed.pid), str(survivor.pid)}, senders  # both did part of it


def test_two_workers_never_claim_the_same_message(app, course, people, database_url):
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from notifications.delivery import claim_due_messages
    from notifications.services import queue_email

    with app.app_context():
        for i in range(20):
            queue_email(f"r{i}@example.com", "Hi", "x", category="account", dedupe_key=f"k{i}")
        db.session.commit()
        first = {m.id for m in claim_due_messages("worker-a", 8)}
        if db.engine.dialect.name == "postgresql":
            # Worker B claims while A's claim is still uncommitted: SKIP LOCKED passes over
            # A's rows instead of waiting for them or taking them.
            engine = create_engine(db.engine.url)
            try:
                with Session(engine) as other:
                    from notifications.models import OutboxMessage as M

                    rows = other.execute(
                        select(M.id)
                        .where(M.status == "queued")
                        .order_by(M.id)
                        .limit(8)
                        .with_for_update(skip_locked=True)
                    ).scalars()
                    assert not first & set(rows)
                    other.rollback()
            finally:
                engine.dispose()
        db.session.commit()
        second = {m.id for m in claim_due_messages("worker-b", 8)}
        db.session.commit()
        third = {m.id for m in claim_due_messages("worker-c", 8)}
        db.session.commit()
    assert len(first) == len(second) == 8 and len(third) == 4
    assert not (first & second) and not (first & third) and not (second & third)
