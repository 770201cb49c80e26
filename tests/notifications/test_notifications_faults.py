"""Faults: the SMTP server down, permanent refusals, header injection, timeouts."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from forum.accounts.models import User
from forum.database import utcnow
from forum.extensions import db
from notifications.emails import HeaderInjectionError
from notifications.models import BouncingAddress, OutboxMessage
from notifications.services import queue_email
from tests.notifications.helpers import SMTPSink, free_port, outbox, post_as, subscribe, work


@pytest.fixture
def down_port():
    return free_port()


@pytest.fixture
def app_config(down_port):
    # Nothing listens on this port until the test starts a server there.
    return {
        "NOTIFICATIONS_EDIT_WINDOW": 0,
        "NOTIFICATIONS_DIGEST_HOUR": None,
        "NOTIFICATIONS_TRANSPORT": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": down_port,
        "MAIL_TIMEOUT": 2,
    }


def test_smtp_down_posting_succeeds_and_mail_arrives_later_with_same_message_id(
    app, course, people, down_port
):
    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        subscribe([ids["bea"]], prompt_id=course.prompt_id)
        db.session.commit()
        post_as(ids["author"], course.prompt_id, "Written while the mail server sleeps.")
    work(app)
    [row] = outbox(app)
    assert row.status == "queued"
    assert row.attempts == 1
    assert row.next_attempt_at > utcnow() + timedelta(seconds=30)
    assert "Connection refused" in row.last_error or "Errno" in row.last_error
    work(app)  # not due yet: nothing happens
    assert outbox(app)[0].attempts == 1

    sink = SMTPSink(port=down_port).start()
    try:
        work(app)
        assert sink.received == []  # still waiting for next_attempt_at
        with app.app_context():
            db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
            db.session.commit()
        work(app)
        [mail] = sink.received
    finally:
        sink.stop()
    assert mail.message_id == row.message_id
    [after] = outbox(app)
    assert after.status == "sent"
    assert after.attempts == 2


def test_retries_back_off_and_give_up(app, course, people, down_port):
    app.config["NOTIFICATIONS_MAX_ATTEMPTS"] = 3
    with app.app_context():
        queue_email(db.session.get(User, people["bea"].id), "Hi", "Body", dedupe_key="k1")
        db.session.commit()
    delays = []
    for _ in range(3):
        with app.app_context():
            db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
            db.session.commit()
        before = utcnow()
        work(app)
        [row] = outbox(app)
        delays.append((row.next_attempt_at - before).total_seconds())
    assert row.status == "failed"
    assert "gave up after 3 attempts" in row.last_error
    assert 55 < delays[0] < 65 and 115 < delays[1] < 125  # 1 minute, then 2


def test_permanent_refusal_fails_and_marks_the_address_bouncing(app, course, people, down_port):
    ids = {k: u.id for k, u in people.items()}
    sink = SMTPSink(port=down_port)
    sink.handler.refuse["bea@example.com"] = "550 5.1.1 No such mailbox"
    sink.start()
    try:
        with app.app_context():
            subscribe([ids["bea"], ids["cal"]], prompt_id=course.prompt_id)
            db.session.commit()
            post_as(ids["author"], course.prompt_id, "One.")
        work(app)
        by_address = {r.to_address: r for r in outbox(app)}
        assert by_address["bea@example.com"].status == "failed"
        assert "550" in by_address["bea@example.com"].last_error
        assert by_address["cal@example.com"].status == "sent"
        with app.app_context():
            assert db.session.get(BouncingAddress, "bea@example.com") is not None
            post_as(ids["author"], course.prompt_id, "Two.")
        work(app)
        # The bouncing address isn't mailed again; the other reader is.
        assert [r.rcpt_tos for r in sink.received] == [["cal@example.com"]] * 2
    finally:
        sink.stop()


def test_temporary_refusal_is_retried(app, course, people, down_port):
    sink = SMTPSink(port=down_port)
    sink.handler.refuse["bea@example.com"] = "451 4.3.0 Try again later"
    sink.start()
    try:
        with app.app_context():
            queue_email(db.session.get(User, people["bea"].id), "Hi", "Body", dedupe_key="k")
            db.session.commit()
        work(app)
        [row] = outbox(app)
        assert row.status == "queued" and "451" in row.last_error
        with app.app_context():
            assert db.session.get(BouncingAddress, "bea@example.com") is None
    finally:
        sink.stop()


@pytest.mark.parametrize(
    "subject",
    ["Hello\r\nBcc: victim@example.com", "Hello\nX-Evil: 1", "Hello\rthere", "Tab\x00null"],
)
def test_crlf_in_subject_is_refused_before_anything_is_queued(app, people, subject):
    with app.app_context():
        with pytest.raises(HeaderInjectionError):
            queue_email(db.session.get(User, people["bea"].id), subject, "Body", dedupe_key="x")
        with pytest.raises(ValueError):
            queue_email(
                "bea@example.com\r\nBcc: x@example.com",
                "Fine",
                "Body",
                category="account",
                dedupe_key="y",
            )
        assert db.session.execute(select(OutboxMessage)).scalars().all() == []


def test_a_stored_row_with_crlf_is_failed_not_sent(app, people, down_port):
    sink = SMTPSink(port=down_port).start()
    try:
        with app.app_context():
            queue_email(db.session.get(User, people["bea"].id), "Fine", "Body", dedupe_key="k")
            db.session.execute(update(OutboxMessage).values(subject="Bad\r\nBcc: x@example.com"))
            db.session.commit()
        work(app)
        assert sink.received == []
        [row] = outbox(app)
        assert row.status == "failed" and "HeaderInjectionError" in row.last_error
    finally:
        sink.stop()


def test_a_silent_server_times_out_instead_of_hanging(app, people, down_port):
    """A server that accepts the connection and never answers: MAIL_TIMEOUT applies."""
    app.config["MAIL_TIMEOUT"] = 1
    listener = socket.socket()
    listener.bind(("127.0.0.1", down_port))
    listener.listen(5)
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
    thread.start()
    try:
        with app.app_context():
            queue_email(db.session.get(User, people["bea"].id), "Hi", "Body", dedupe_key="k")
            db.session.commit()
        # In a thread with a bound: if the timeout didn't apply, the worker would hang
        # and this test would fail after 15 s instead of hanging with it.
        errors: list[BaseException] = []

        def _work():
            try:
                work(app)
            except BaseException as exc:  # shown below
                errors.append(exc)

        started = time.monotonic()
        worker = threading.Thread(target=_work, daemon=True)
        worker.start()
        worker.join(timeout=15)
        assert not worker.is_alive(), "the worker hung on a silent SMTP server"
        assert not errors, errors
        assert time.monotonic() - started < 10
    finally:
        for conn, _addr in accepted:
            conn.close()
        listener.close()
    [row] = outbox(app)
    assert row.status == "queued" and "timed out" in row.last_error.lower()


def test_expired_lease_of_a_dead_worker_is_taken_over(app, people, down_port):
    sink = SMTPSink(port=down_port).start()
    try:
        with app.app_context():
            queue_email(db.session.get(User, people["bea"].id), "Hi", "Body", dedupe_key="k")
            db.session.execute(
                update(OutboxMessage).values(
                    status="sending",
                    claimed_by="dead-worker",
                    claimed_until=utcnow() + timedelta(minutes=5),
                    attempts=1,
                )
            )
            db.session.commit()
        work(app)
        assert sink.received == []  # the lease still holds
        with app.app_context():
            db.session.execute(
                update(OutboxMessage).values(claimed_until=utcnow() - timedelta(seconds=1))
            )
            db.session.commit()
        work(app)
        assert len(sink.received) == 1
        assert outbox(app)[0].status == "sent"
    finally:
        sink.stop()
