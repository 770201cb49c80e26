"""The SMTP server down, or a black hole, during a large fan-out: nothing lost, nothing
sent twice, the worker never hangs, and posting never waits for it.

tests/notifications/test_notifications_faults.py covers one message at a time (a server
down, a silent one, refusals); these do it at the scale of a real thread's watchers.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from forum.database import utcnow
from forum.extensions import db
from notifications.models import EventStatus, NotificationEvent, OutboxMessage
from tests.notifications.helpers import (
    SMTPSink,
    add_users,
    free_port,
    outbox,
    post_as,
    subscribe,
    work,
)

WATCHERS = 1000
MAIL_TIMEOUT = 1


@pytest.fixture
def down_port():
    return free_port()


@pytest.fixture
def app_config(down_port):
    # Nothing listens on this port until the test puts something there.
    return {
        "NOTIFICATIONS_EDIT_WINDOW": 0,
        "NOTIFICATIONS_DIGEST_HOUR": None,
        "NOTIFICATIONS_TRANSPORT": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": down_port,
        "MAIL_TIMEOUT": MAIL_TIMEOUT,
    }


def _statuses(app) -> Counter:
    with app.app_context():
        return Counter(db.session.execute(select(OutboxMessage.status)).scalars())


def _watched_post(app, course, people, count: int) -> set[str]:
    """``count`` watchers of the course's first thread, and a post there; their addresses."""
    with app.app_context():
        readers = add_users(count)
        subscribe(readers, prompt_id=course.prompt_id)
        db.session.commit()
        post_as(people["author"].id, course.prompt_id, "To everyone watching.")
    return {f"reader-{i:05d}@example.com" for i in range(count)}


@pytest.mark.slow
def test_smtp_down_during_a_fan_out_of_1000_then_each_delivered_once(
    app, course, people, down_port
):
    addresses = _watched_post(app, course, people, WATCHERS)

    # The server is down: every cycle fans out / claims a batch, fails to connect and
    # schedules it again. Until each message has been tried once (bounded).
    for _ in range(30):
        work(app)
        with app.app_context():
            untried = db.session.execute(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.attempts == 0)
            ).scalar_one()
        if untried == 0:
            break
    assert untried == 0
    rows = outbox(app)
    assert len(rows) == WATCHERS  # nothing lost ...
    assert {r.to_address for r in rows} == addresses
    assert {r.status for r in rows} == {"queued"}  # ... none marked sent
    assert {r.attempts for r in rows} == {1}
    soon = utcnow() + timedelta(seconds=30)
    assert all(r.next_attempt_at > soon for r in rows)  # a retry is scheduled, not a spin
    assert all("refused" in r.last_error.lower() or "errno" in r.last_error.lower() for r in rows)
    [event] = [e for e in _events(app) if e.kind == "new_post"]
    assert event.status == EventStatus.DONE
    expected_ids = {r.message_id for r in rows}
    assert len(expected_ids) == WATCHERS

    work(app)  # still down and nothing due: nothing is tried
    assert {r.attempts for r in outbox(app)} == {1}

    sink = SMTPSink(port=down_port).start()
    try:
        # Instead of waiting a minute for the retries, make them due now.
        with app.app_context():
            db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
            db.session.commit()
        deadline = time.monotonic() + 90
        while _statuses(app).get("queued") and time.monotonic() < deadline:
            work(app)
        received = sink.received
    finally:
        sink.stop()

    assert _statuses(app) == {"sent": WATCHERS}
    assert len(received) == WATCHERS
    by_id = Counter(mail.message_id for mail in received)
    assert set(by_id) == expected_ids and set(by_id.values()) == {1}  # each one once
    recipients = Counter(rcpt for mail in received for rcpt in mail.rcpt_tos)
    assert set(recipients) == addresses and set(recipients.values()) == {1}
    assert {r.attempts for r in outbox(app)} == {2}


def _events(app) -> list[NotificationEvent]:
    with app.app_context():
        rows = list(db.session.execute(select(NotificationEvent)).scalars())
        db.session.expunge_all()
        return rows


class BlackHole:
    """A TCP server on ``port`` that accepts and then never answers (``silent``), or talks
    SMTP up to the end of DATA and then never answers (``stall_after_data``)."""

    def __init__(self, port: int, mode: str):
        self.mode = mode
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(50)
        self.listener.settimeout(0.2)
        self.connections: list[socket.socket] = []
        self.stalled = threading.Event()  # a client is waiting on us right now
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections.append(conn)
            if self.mode == "silent":
                self.stalled.set()
            else:
                threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        try:
            conn.sendall(b"220 hole.test ESMTP\r\n")
            reader = conn.makefile("rb")
            for line in reader:
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    conn.sendall(b"250 hole.test\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    for data_line in reader:
                        if data_line == b".\r\n":
                            break
                    self.stalled.set()
                    self.stop.wait(30)  # the message is in; the answer never comes
                    return
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 OK\r\n")
        except OSError:
            return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.connections:
            conn.close()
        self.listener.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["silent", "stall_after_data"])
def test_a_black_hole_smtp_server_never_hangs_the_worker_or_posting(
    app, course, people, down_port, login, mode
):
    readers = 300  # three batches of NOTIFICATIONS_SEND_BATCH (100)
    _watched_post(app, course, people, readers)
    with app.app_context():
        from forum.courses.models import Prompt

        prompt = db.session.get(Prompt, course.other_prompt_id)  # a thread no one watches
        thread = f"/c/{prompt.module.course.slug}/{prompt.module.slug}/{prompt.slug}"
    client = app.test_client()
    login(client, people["bea"])
    assert client.get(thread).status_code == 200  # templates compiled before timing

    hole = BlackHole(down_port, mode)
    cycles: list[float] = []
    worker_error: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(3):
                started = time.monotonic()
                work(app)
                cycles.append(time.monotonic() - started)
        except BaseException as exc:  # surfaced below
            worker_error.append(exc)

    posts = []
    try:
        running = threading.Thread(target=worker, daemon=True)
        running.start()
        assert hole.stalled.wait(15), "the worker never reached the server"
        for n in range(3):
            started = time.monotonic()
            answer = client.post(thread + "/posts", data={"body": f"Meanwhile, post {n}."})
            posts.append((answer.status_code, time.monotonic() - started, running.is_alive()))
        running.join(timeout=60)
        assert not running.is_alive(), "the worker hung"
    finally:
        hole.close()
    assert not worker_error, worker_error

    assert [status for status, _, _ in posts] == [303] * 3
    assert max(seconds for _, seconds, _ in posts) < 2, posts
    assert posts[0][2], "the first post should have been answered while the worker waited"
    assert len(cycles) == 3 and max(cycles) < 10, cycles

    rows = outbox(app)
    assert len(rows) == readers
    assert {r.status for r in rows} == {"queued"}  # none lost, none marked sent
    assert {r.attempts for r in rows} == {1}  # one batch per cycle, each tried once
    assert all(r.next_attempt_at > utcnow() + timedelta(seconds=30) for r in rows)
    errors = Counter(
        "timed out" if "timed out" in r.last_error.lower() else r.last_error for r in rows
    )
    if mode == "silent":
        assert errors == {"timed out": readers}
    else:
        # The one message in flight timed out; the rest of its batch waits for a new
        # connection, in every batch.
        assert errors == {"timed out": 3, "connection lost": readers - 3}
