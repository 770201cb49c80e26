"""Helpers for notification tests: a real SMTP sink, a course, fast users, the worker."""

from __future__ import annotations

import email
import email.policy
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from sqlalchemy import insert, select

from forum.accounts.models import Role, User
from forum.courses.models import Prompt
from forum.database import utcnow
from forum.extensions import db
from forum.threads.models import Post
from forum.threads.services import create_post
from notifications.models import OutboxMessage, Subscription
from notifications.worker import run_once
from tests.course_data import SMALL_COURSE

COURSE = SMALL_COURSE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self):
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def text(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(preferencelist=("html",)).get_content()


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.refuse.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 Message accepted for delivery"


class SMTPSink:
    """An SMTP server on 127.0.0.1 that keeps every message's raw bytes."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.handler = SinkHandler()
        self.controller: Controller | None = None

    def start(self) -> SMTPSink:
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=5
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


@dataclass
class CourseIds:
    prompt_id: int
    other_prompt_id: int
    module_id: int
    other_module_prompt_id: int


def add_person(email: str, name: str) -> User:
    """One confirmed participant, without the cost of hashing a password; flushes."""
    user = User(
        email=email,
        display_name=name,
        password_hash="!unusable",
        role=Role.PARTICIPANT.value,
        session_token=secrets.token_hex(16),
        email_confirmed_at=utcnow(),
        created_at=utcnow(),
    )
    db.session.add(user)
    db.session.flush()
    return user


def add_users(count: int, prefix: str = "reader") -> list[int]:
    """Insert confirmed participants fast (no password hashing); needs an app context."""
    now = utcnow()
    rows = [
        {
            "email": f"{prefix}-{i:05d}@example.com",
            "display_name": f"Reader {i}",
            "password_hash": "!unusable",
            "role": Role.PARTICIPANT.value,
            "session_token": f"{i:032d}",
            "email_confirmed_at": now,
            "created_at": now,
        }
        for i in range(count)
    ]
    for start in range(0, len(rows), 1000):
        db.session.execute(insert(User), rows[start : start + 1000])
    db.session.flush()
    return list(
        db.session.execute(
            select(User.id).where(User.email.like(f"{prefix}-%")).order_by(User.id)
        ).scalars()
    )


def subscribe(user_ids, prompt_id=None, module_id=None, mode="watching") -> None:
    """Subscribe users in bulk; needs an app context."""
    now = utcnow()
    db.session.execute(
        insert(Subscription),
        [
            {
                "user_id": uid,
                "prompt_id": prompt_id,
                "module_id": module_id,
                "mode": mode,
                "created_at": now,
            }
            for uid in user_ids
        ],
    )


def post_as(user_id: int, prompt_id: int, body: str, parent_id=None):
    """Write a post through the core's service and commit; returns the post id."""
    user = db.session.get(User, user_id)
    prompt = db.session.get(Prompt, prompt_id)
    parent = db.session.get(Post, parent_id) if parent_id else None
    post, created = create_post(user, prompt, body, parent=parent)
    assert created
    db.session.commit()
    return post.id


def work(app) -> None:
    """One worker cycle (fan-out, then sending), as cron would run it."""
    with app.app_context():
        run_once()


def outbox(app, **filters) -> list[OutboxMessage]:
    with app.app_context():
        rows = list(
            db.session.execute(
                select(OutboxMessage).filter_by(**filters).order_by(OutboxMessage.id)
            ).scalars()
        )
        db.session.expunge_all()
        return rows


UNSUB_RE = re.compile(rb"^List-Unsubscribe: <(https://[^>\r\n]+)>\r?$", re.MULTILINE)


def add_unchecked_user(email: str, name: str) -> int:
    """A confirmed participant with whatever address, inserted around every validation
    (as rows from before the accounts form checked addresses may be); returns the id."""
    db.session.execute(
        insert(User).values(
            email=email,
            display_name=name,
            password_hash="!unusable",
            role=Role.PARTICIPANT.value,
            session_token=secrets.token_hex(16),
            email_confirmed_at=utcnow(),
            created_at=utcnow(),
        )
    )
    return db.session.execute(select(User.id).where(User.email == email)).scalar_one()


def events(app, **filters) -> list:
    """Every notification event (detached), oldest first."""
    from notifications.models import NotificationEvent

    with app.app_context():
        rows = list(
            db.session.execute(
                select(NotificationEvent).filter_by(**filters).order_by(NotificationEvent.id)
            ).scalars()
        )
        db.session.expunge_all()
        return rows
