"""Delivery: claiming due outbox rows and sending their stored bytes over SMTP (or into a
folder), and recording each outcome.

Everything here flushes only. ``notifications.worker`` commits: the claim before anything
is sent (the row says ``sending``, who holds it and until when: a lease), and each
message's outcome right after it is sent, so a killed worker loses nothing and sends again
at most the one message in flight, with the same Message-ID. A crashed worker's claims
come back when their lease runs out.
"""

from __future__ import annotations

import os
import smtplib
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from flask_mail import Connection, sanitize_address
from sqlalchemy import and_, bindparam, or_, update

from forum.claims import claim_due
from forum.database import utcnow
from forum.extensions import db
from notifications.common import describe_error, retry_delay
from notifications.dkim import DKIMSigner, signer_from_config
from notifications.emails import HeaderInjectionError, check_headers
from notifications.models import OutboxMessage, OutboxStatus
from notifications.preferences import mark_bouncing


def new_worker_id() -> str:
    """Who holds a claim: host, process and thread, readable in the status output."""
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

    def configure_host(self) -> smtplib.SMTP:
        timeout = float(current_app.config["MAIL_TIMEOUT"])
        host: smtplib.SMTP
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
    """One SMTP connection for a batch, through Flask-Mail's connection.

    With a DKIM signer, each message is signed as it is sent (see notifications.dkim).
    """

    def __init__(self, signer: DKIMSigner | None = None):
        self.signer = signer

    def __enter__(self):
        state = current_app.extensions["mail"]
        self.envelope_from = sanitize_address(state.default_sender)
        self.connection = TimeoutConnection(state)
        self.connection.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.connection.__exit__(*exc)

    def send(self, raw: bytes, mail: ClaimedMail) -> None:
        # The bytes were built by Flask-Mail's Message at queue time (HearthMessage).
        host = self.connection.host
        if host is None:
            raise smtplib.SMTPServerDisconnected("the connection was closed")
        if self.signer is not None:
            raw = self.signer.sign(raw)
        host.sendmail(self.envelope_from, [sanitize_address(mail.to_address)], raw)


def mail_dir() -> Path:
    return Path(
        current_app.config.get("NOTIFICATIONS_MAIL_DIR")
        or os.path.join(current_app.instance_path, "mail")
    )


class FileTransport:
    """Development: each message's raw bytes become instance/mail/<time>-<id>.eml (signed,
    like SMTP's, when DKIM is on, so the signature can be looked at)."""

    def __init__(self, signer: DKIMSigner | None = None):
        self.signer = signer

    def __enter__(self):
        self.folder = mail_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc) -> None:
        return None

    def send(self, raw: bytes, mail: ClaimedMail) -> None:
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        final = self.folder / f"{stamp}-{mail.id}.eml"
        partial = self.folder / f".{stamp}-{mail.id}.tmp"
        partial.write_bytes(self.signer.sign(raw) if self.signer is not None else raw)
        partial.replace(final)


def make_transport():
    """The configured transport for one batch, with the DKIM signer if DKIM is on.

    The key is read here, for every batch, so a rotated key applies to queued mail at
    once. Raises RuntimeError for an unknown transport, and DKIMConfigError (an OSError,
    so the worker retries the batch later) for DKIM settings that can't work.
    """
    kind = current_app.config["NOTIFICATIONS_TRANSPORT"]
    if kind not in ("file", "smtp"):
        raise RuntimeError(f"NOTIFICATIONS_TRANSPORT must be 'smtp' or 'file', not {kind!r}")
    signer = signer_from_config(current_app.config)
    return FileTransport(signer) if kind == "file" else SMTPTransport(signer)


# --- claiming ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedMail:
    """What the sender needs from a claimed outbox row, detached from the session."""

    id: int
    to_address: str
    category: str
    message_id: str
    subject: str
    list_unsubscribe_url: str | None
    raw: bytes | None  # the message as built at queue time
    attempts: int


def claim_due_messages(
    worker_id: str, limit: int, now: datetime | None = None
) -> list[ClaimedMail]:
    """Mark up to ``limit`` due messages as ``sending`` for this worker; the caller commits.

    Due means queued with its next attempt in the past, or ``sending`` with an expired
    lease (its worker died). forum.claims takes them with FOR UPDATE SKIP LOCKED on
    PostgreSQL, so workers on several machines never claim the same row; SQLite
    serialises writers.
    """
    now = now or utcnow()
    lease = timedelta(seconds=int(current_app.config["NOTIFICATIONS_CLAIM_LEASE"]))
    due = or_(
        and_(
            OutboxMessage.status == OutboxStatus.QUEUED,
            OutboxMessage.next_attempt_at <= now,
        ),
        # Live leases are left alone by claim_due itself; expired ones are taken over.
        OutboxMessage.status == OutboxStatus.SENDING,
    )
    order = (OutboxMessage.next_attempt_at, OutboxMessage.id)
    rows = claim_due(OutboxMessage, due, order, worker_id, lease, limit, now=now)
    claimed = []
    for row in rows:
        row.status = OutboxStatus.SENDING
        row.attempts += 1
        claimed.append(
            ClaimedMail(
                id=row.id,
                to_address=row.to_address,
                category=row.category,
                message_id=row.message_id,
                subject=row.subject,
                list_unsubscribe_url=row.list_unsubscribe_url,
                raw=row.raw_message,
                attempts=row.attempts,
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
    """Record a delivered message (the caller commits at once)."""
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

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.released += other.released
        self.errors.extend(other.errors)


SENT = "sent"
FAILED = "failed"
RETRY = "retry"
CONNECTION_LOST = "connection_lost"


def send_one(transport, mail: ClaimedMail, worker_id: str, report: DeliveryReport) -> str:
    """Send one claimed message and record the outcome (flush only); returns the outcome.

    ``connection_lost`` tells the caller to stop using this connection.
    """
    try:
        # Checked again here: a row written by anything but the outbox builder (or changed
        # since) must not slip by.
        check_headers(mail.subject, mail.to_address, mail.message_id, mail.list_unsubscribe_url)
    except HeaderInjectionError as exc:
        mark_failed(mail.id, worker_id, describe_error(exc))
        report.failed += 1
        return FAILED
    if not mail.raw:
        mark_failed(mail.id, worker_id, "no stored message to send")
        report.failed += 1
        return FAILED
    try:
        transport.send(mail.raw, mail)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _msg in exc.recipients.values()]
        error = describe_error(exc)
        if codes and min(codes) >= 500:
            mark_failed(mail.id, worker_id, error)
            mark_bouncing(mail.to_address, error)
            report.failed += 1
            return FAILED
        mark_temporary_failure(mail.id, worker_id, mail.attempts, error)
        report.retried += 1
        return RETRY
    except smtplib.SMTPResponseException as exc:
        error = describe_error(exc)
        if 500 <= exc.smtp_code < 600:
            mark_failed(mail.id, worker_id, error)
            if isinstance(exc, smtplib.SMTPDataError):
                # Refused after DATA: each message has one recipient, so the refusal is
                # about that address (a 5xx at MAIL FROM or HELO is about us, not them).
                mark_bouncing(mail.to_address, error)
            report.failed += 1
            return FAILED
        mark_temporary_failure(mail.id, worker_id, mail.attempts, error)
        report.retried += 1
        return CONNECTION_LOST if exc.smtp_code == 421 else RETRY
    except (smtplib.SMTPException, OSError) as exc:
        # Disconnected, timed out, refused: the server is in trouble, not this message.
        error = describe_error(exc)
        report.errors.append(error)
        mark_temporary_failure(mail.id, worker_id, mail.attempts, error)
        report.retried += 1
        return CONNECTION_LOST
    mark_sent(mail.id, worker_id)
    report.sent += 1
    return SENT


def retry_unsent(
    unsent: list[ClaimedMail], worker_id: str, error: str, report: DeliveryReport
) -> None:
    """The connection failed before these were tried: a temporary failure for each."""
    for mail in unsent:
        mark_temporary_failure(mail.id, worker_id, mail.attempts, error)
        report.retried += 1


def hand_back(unsent: list[ClaimedMail], worker_id: str, report: DeliveryReport) -> None:
    """The worker is stopping: give these back untried, for any worker to take at once."""
    for mail in unsent:
        release(mail.id, worker_id)
        report.released += 1
