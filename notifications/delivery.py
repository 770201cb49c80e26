"""Delivery: claiming due outbox rows and sending them over SMTP (or into a folder).

A claim is committed before anything is sent: the row says ``sending``, who holds it and
until when (a lease). After each message the row is marked sent and committed, so a
killed worker loses nothing and sends again at most the one message in flight, with the
same Message-ID. A crashed worker's claims come back when their lease runs out.
"""

from __future__ import annotations

import os
import smtplib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from flask_mail import Connection, sanitize_address
from sqlalchemy import and_, bindparam, or_, select, update

from forum.database import utcnow
from forum.extensions import db
from notifications.emails import (
    HeaderInjectionError,
    OutgoingMail,
    build_message,
    check_headers,
)
from notifications.models import OutboxMessage, OutboxStatus
from notifications.services import mark_bouncing


def new_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{threading.get_ident() % 10_000}"


class TimeoutConnection(Connection):
    """Flask-Mail's connection with a timeout on every SMTP call (MAIL_TIMEOUT seconds).

    It always connects: the worker's transport setting, not MAIL_SUPPRESS_SEND, decides
    whether mail goes out.
    """

    def __enter__(self):
        self.host = self.configure_host()
        self.num_emails = 0
        return self

    def __exit__(self, exc_type, exc_value, tb) -> None:
        if self.host is not None:
            try:
                self.host.quit()
            except (smtplib.SMTPException, OSError):
                self.host.close()
            self.host = None

    def configure_host(self):
        timeout = float(current_app.config["MAIL_TIMEOUT"])
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=timeout)
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=timeout)
        host.set_debuglevel(int(self.mail.debug))
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


class SMTPTransport:
    """One SMTP connection for a batch, through Flask-Mail's connection."""

    def __enter__(self):
        state = current_app.extensions["mail"]
        self.envelope_from = sanitize_address(state.default_sender)
        self.connection = TimeoutConnection(state)
        self.connection.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.connection.__exit__(*exc)

    def send(self, raw: bytes, mail: OutgoingMail) -> None:
        # The bytes were built by Flask-Mail's Message at queue time (HearthMessage).
        self.connection.host.sendmail(self.envelope_from, [sanitize_address(mail.to_address)], raw)


def mail_dir() -> Path:
    return Path(
        current_app.config.get("NOTIFICATIONS_MAIL_DIR")
        or os.path.join(current_app.instance_path, "mail")
    )


class FileTransport:
    """Development: each message's raw bytes become instance/mail/<time>-<id>.eml."""

    def __enter__(self):
        self.folder = mail_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc) -> None:
        return None

    def send(self, raw: bytes, mail: OutgoingMail) -> None:
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        final = self.folder / f"{stamp}-{mail.id}.eml"
        partial = self.folder / f".{stamp}-{mail.id}.tmp"
        partial.write_bytes(raw)
        partial.replace(final)


def make_transport():
    kind = current_app.config["NOTIFICATIONS_TRANSPORT"]
    if kind == "file":
        return FileTransport()
    if kind == "smtp":
        return SMTPTransport()
    raise RuntimeError(f"NOTIFICATIONS_TRANSPORT must be 'smtp' or 'file', not {kind!r}")


# --- claiming ---------------------------------------------------------------------------


def claim_due_messages(worker_id: str, limit: int, now: datetime | None = None) -> list:
    """Mark up to ``limit`` due messages as ``sending`` for this worker; the caller commits.

    Due means queued with its next attempt in the past, or ``sending`` with an expired
    lease (its worker died). On PostgreSQL the rows are locked with SKIP LOCKED, so
    workers on several machines never claim the same row; on SQLite writes are serial.
    """
    now = now or utcnow()
    lease = timedelta(seconds=int(current_app.config["NOTIFICATIONS_CLAIM_LEASE"]))
    query = (
        select(OutboxMessage)
        .where(
            or_(
                and_(
                    OutboxMessage.status == OutboxStatus.QUEUED,
                    OutboxMessage.next_attempt_at <= now,
                ),
                and_(
                    OutboxMessage.status == OutboxStatus.SENDING,
                    OutboxMessage.claimed_until < now,
                ),
            )
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(db.session.execute(query).scalars())
    claimed = []
    for row in rows:
        row.status = OutboxStatus.SENDING
        row.claimed_by = worker_id
        row.claimed_until = now + lease
        row.attempts += 1
        claimed.append(
            (
                OutgoingMail(
                    id=row.id,
                    to_address=row.to_address,
                    category=row.category,
                    message_id=row.message_id,
                    subject=row.subject,
                    text_body=row.text_body,
                    html_body=row.html_body,
                    list_unsubscribe_url=row.list_unsubscribe_url,
                    raw=row.raw_message,
                ),
                row.attempts,
            )
        )
    db.session.flush()
    return claimed


# --- outcomes ---------------------------------------------------------------------------


def _mine(mail_id: int, worker_id: str):
    return update(OutboxMessage).where(
        OutboxMessage.id == mail_id,
        OutboxMessage.claimed_by == worker_id,
        OutboxMessage.status == OutboxStatus.SENDING,
    )


def _execute(statement) -> None:
    db.session.execute(statement, execution_options={"synchronize_session": False})


# Built once: marking a message sent happens after every single delivery, and building
# the statement costs more than running it.
_MARK_SENT = (
    update(OutboxMessage)
    .where(
        OutboxMessage.id == bindparam("mail_id"),
        OutboxMessage.claimed_by == bindparam("worker_id"),
        OutboxMessage.status == OutboxStatus.SENDING.value,
    )
    .values(status=OutboxStatus.SENT.value, sent_at=bindparam("now"), claimed_until=None)
)


def mark_sent(mail_id: int, worker_id: str) -> None:
    """Record a delivered message."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        # Don't wait for the disk on this one commit: a killed worker loses nothing (the
        # server has the commit), and a crash of the database server itself could only
        # forget a few "sent" marks, which means sending those again, never losing one.
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
    connection.execute(_MARK_SENT, {"mail_id": mail_id, "worker_id": worker_id, "now": utcnow()})


def mark_failed(mail_id: int, worker_id: str, error: str) -> None:
    """Give up on a message for good."""
    _execute(
        _mine(mail_id, worker_id).values(
            status=OutboxStatus.FAILED, claimed_until=None, last_error=error[:500]
        )
    )


def retry_delay(attempts: int) -> timedelta:
    """base * 2^(attempts-1) seconds, capped: 1, 2, 4, 8 ... minutes with the defaults."""
    config = current_app.config
    base = float(config["NOTIFICATIONS_RETRY_BASE"])
    cap = float(config["NOTIFICATIONS_RETRY_MAX_DELAY"])
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def mark_temporary_failure(mail_id: int, worker_id: str, attempts: int, error: str) -> str:
    """Queue a message again after a growing delay, or fail it after too many attempts."""
    if attempts >= int(current_app.config["NOTIFICATIONS_MAX_ATTEMPTS"]):
        mark_failed(mail_id, worker_id, f"gave up after {attempts} attempts: {error}")
        return OutboxStatus.FAILED
    _execute(
        _mine(mail_id, worker_id).values(
            status=OutboxStatus.QUEUED,
            next_attempt_at=utcnow() + retry_delay(attempts),
            claimed_until=None,
            last_error=error[:500],
        )
    )
    return OutboxStatus.QUEUED


def release(mail_id: int, worker_id: str) -> None:
    """Hand back a claimed message we never tried (the worker is stopping)."""
    _execute(
        _mine(mail_id, worker_id).values(
            status=OutboxStatus.QUEUED,
            attempts=OutboxMessage.attempts - 1,
            claimed_until=None,
        )
    )


# --- sending ----------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    errors: list[str] = field(default_factory=list)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def deliver(
    claimed: list,
    worker_id: str,
    should_stop: Callable[[], bool] = lambda: False,
) -> DeliveryReport:
    """Send claimed messages over one connection, committing each outcome at once."""
    report = DeliveryReport()
    if not claimed:
        return report
    # Nothing below reads ORM objects, so no transaction stays open while SMTP talks.
    db.session.commit()
    remaining = list(claimed)
    try:
        with make_transport() as transport:
            while remaining:
                if should_stop():
                    break
                mail, attempts = remaining[0]
                outcome = _send_one(transport, mail, attempts, worker_id, report)
                remaining.pop(0)
                db.session.commit()
                if outcome == "connection_lost":
                    break
    except (smtplib.SMTPException, OSError) as exc:
        # Couldn't connect (or the goodbye failed): temporary, for everything unsent.
        error = _describe(exc)
        report.errors.append(error)
        for mail, attempts in remaining:
            mark_temporary_failure(mail.id, worker_id, attempts, error)
            report.retried += 1
        db.session.commit()
        remaining = []
    if remaining:
        for mail, _attempts in remaining:
            if should_stop():
                release(mail.id, worker_id)
                report.released += 1
            else:
                mark_temporary_failure(mail.id, worker_id, _attempts, "connection lost")
                report.retried += 1
        db.session.commit()
    return report


def _send_one(transport, mail: OutgoingMail, attempts: int, worker_id: str, report) -> str:
    try:
        # Checked again here: a row written by anything but queue_email must not slip by.
        check_headers(mail)
        raw = mail.raw or build_message(mail, utcnow().timestamp()).as_bytes()
    except HeaderInjectionError as exc:
        mark_failed(mail.id, worker_id, _describe(exc))
        report.failed += 1
        return "failed"
    try:
        transport.send(raw, mail)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _msg in exc.recipients.values()]
        error = _describe(exc)
        if codes and min(codes) >= 500:
            mark_failed(mail.id, worker_id, error)
            mark_bouncing(mail.to_address, error)
            report.failed += 1
            return "failed"
        mark_temporary_failure(mail.id, worker_id, attempts, error)
        report.retried += 1
        return "retry"
    except smtplib.SMTPResponseException as exc:
        error = _describe(exc)
        if 500 <= exc.smtp_code < 600:
            mark_failed(mail.id, worker_id, error)
            report.failed += 1
            return "failed"
        mark_temporary_failure(mail.id, worker_id, attempts, error)
        report.retried += 1
        return "connection_lost" if exc.smtp_code == 421 else "retry"
    except (smtplib.SMTPException, OSError) as exc:
        # Disconnected, timed out, refused: the server is in trouble, not this message.
        error = _describe(exc)
        report.errors.append(error)
        mark_temporary_failure(mail.id, worker_id, attempts, error)
        report.retried += 1
        return "connection_lost"
    mark_sent(mail.id, worker_id)
    report.sent += 1
    return "sent"
