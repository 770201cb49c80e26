"""Bounces after the SMTP conversation: a 5xx at DATA, and DSNs read by
``flask notifications bounces``. Both mark the address bouncing; delays don't."""

from __future__ import annotations

from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from forum.extensions import db
from notifications.models import BouncingAddress
from tests.notifications import conftest as notification_fixtures
from tests.notifications.helpers import SinkHandler, SMTPSink, outbox, post_as, subscribe, work

course = notification_fixtures.course
people = notification_fixtures.people


@pytest.fixture
def sink():
    sink = SMTPSink()
    yield sink
    sink.stop()


@pytest.fixture
def app_config(sink):
    return {
        "NOTIFICATIONS_EDIT_WINDOW": 0,
        "NOTIFICATIONS_DIGEST_HOUR": None,
        "NOTIFICATIONS_TRANSPORT": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": sink.port,
        "MAIL_TIMEOUT": 5,
    }


class RefuseAtData(SinkHandler):
    """Accepts every RCPT, then answers DATA with a reply chosen per recipient."""

    data_replies: dict[str, str] = {}

    async def handle_DATA(self, server, session, envelope):
        for address in envelope.rcpt_tos:
            if address in self.data_replies:
                return self.data_replies[address]
        return await super().handle_DATA(server, session, envelope)


def _bouncing(app) -> set[str]:
    with app.app_context():
        return set(db.session.execute(db.select(BouncingAddress.email)).scalars())


@pytest.mark.parametrize(
    ("reply", "bounces"),
    [("550 5.1.1 Mailbox does not exist", True), ("451 4.3.0 Try again later", False)],
)
def test_a_refusal_at_data_from_a_real_smtp_server(app, course, people, sink, reply, bounces):
    handler = RefuseAtData()
    handler.data_replies = {"bea@example.com": reply}
    sink.handler = handler
    sink.start()
    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        subscribe([ids["bea"], ids["cal"]], prompt_id=course.prompt_id)
        db.session.commit()
        post_as(ids["author"], course.prompt_id, "One.")
    work(app)
    rows = {r.to_address: r for r in outbox(app)}
    assert rows["cal@example.com"].status == "sent"
    assert reply[:3] in rows["bea@example.com"].last_error
    if bounces:
        assert rows["bea@example.com"].status == "failed"
        assert _bouncing(app) == {"bea@example.com"}
    else:
        assert rows["bea@example.com"].status == "queued"
        assert _bouncing(app) == set()


def test_a_refused_sender_is_not_the_recipients_fault(app, course, people, sink):
    """A 5xx at MAIL FROM says nothing about the recipient: nobody is marked bouncing."""

    class RefuseSender(SinkHandler):
        async def handle_MAIL(self, server, session, envelope, address, mail_options):
            return "550 5.7.1 Sender not allowed"

    sink.handler = RefuseSender()
    sink.start()
    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        subscribe([ids["bea"]], prompt_id=course.prompt_id)
        db.session.commit()
        post_as(ids["author"], course.prompt_id, "One.")
    work(app)
    [row] = outbox(app)
    assert row.status == "failed"
    assert _bouncing(app) == set()


def dsn(recipients: list[tuple[str, str, str]], report_type: str = "delivery-status") -> bytes:
    """A delivery status notification as a relay sends it (RFC 3464), built with the
    email package: (address, action, status) per recipient."""
    report = MIMEMultipart("report", report_type=report_type)
    report["From"] = "Mail Delivery System <MAILER-DAEMON@relay.example.net>"
    report["To"] = "no-reply@hearth.test"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.attach(MIMEText("This is the mail system at host relay.example.net.\n"))
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; relay.example.net"
    per_message["Arrival-Date"] = "Sun, 22 Nov 2026 10:00:00 +0000"
    blocks = [per_message]
    for address, action, status in recipients:
        block = Message()
        block["Final-Recipient"] = f"rfc822; {address}"
        block["Original-Recipient"] = f"rfc822;{address}"
        block["Action"] = action
        block["Status"] = status
        block["Diagnostic-Code"] = f"smtp; {status[0]}50 {status} something about {address}"
        blocks.append(block)
    status_part = MIMEBase("message", "delivery-status")
    status_part.set_payload(blocks)
    report.attach(status_part)
    original = MIMEBase("text", "rfc822-headers")
    original.set_payload("From: Hearth <no-reply@hearth.test>\nSubject: New reflection\n")
    report.attach(original)
    return report.as_bytes()


def test_the_dsn_builder_makes_what_parsers_read_as_a_report():
    from email import message_from_bytes

    message = message_from_bytes(dsn([("a@example.com", "failed", "5.1.1")]))
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "delivery-status"
    parts = [p.get_content_type() for p in message.walk()]
    assert "message/delivery-status" in parts


def test_bounces_command_reads_a_dsn_from_stdin(app, runner):
    raw = dsn(
        [
            ("Gone@Example.com", "failed", "5.1.1"),
            ("full@example.com", "delayed", "4.2.2"),
            ("later@example.com", "failed", "4.4.7"),
            ("fine@example.com", "delivered", "2.0.0"),
        ]
    )
    result = runner.invoke(args=["notifications", "bounces"], input=raw)
    assert result.exit_code == 0, result.output
    assert "marked 1 address(es) bouncing" in result.output
    assert _bouncing(app) == {"gone@example.com"}
    with app.app_context():
        row = db.session.get(BouncingAddress, "gone@example.com")
        assert "5.1.1" in row.last_error
    again = runner.invoke(args=["notifications", "bounces"], input=raw)  # idempotent
    assert again.exit_code == 0, again.output
    assert _bouncing(app) == {"gone@example.com"}


def test_bounces_command_reads_a_folder_and_ignores_mail_that_is_not_a_dsn(app, runner, tmp_path):
    (tmp_path / "1.eml").write_bytes(dsn([("one@example.com", "failed", "5.2.1")]))
    (tmp_path / "2.eml").write_bytes(dsn([("two@example.com", "failed", "5.7.1")]))
    # A reply that merely looks like a bounce, and a report of another type.
    ordinary = EmailMessage()
    ordinary["Subject"] = "Re: Final-Recipient: rfc822; victim@example.com"
    ordinary.set_content(
        "Final-Recipient: rfc822; victim@example.com\nAction: failed\nStatus: 5.1.1\n"
    )
    (tmp_path / "3.eml").write_bytes(ordinary.as_bytes())
    (tmp_path / "4.eml").write_bytes(
        dsn([("victim@example.com", "failed", "5.1.1")], report_type="disposition-notification")
    )
    result = runner.invoke(args=["notifications", "bounces", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "marked 2 address(es) bouncing" in result.output
    assert "2 message(s) that were not delivery status notifications" in result.output
    assert _bouncing(app) == {"one@example.com", "two@example.com"}


def test_a_dsn_bounce_stops_discussion_mail_to_that_address(app, course, people, sink, runner):
    sink.start()
    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        subscribe([ids["bea"], ids["cal"]], prompt_id=course.prompt_id)
        db.session.commit()
    result = runner.invoke(
        args=["notifications", "bounces"], input=dsn([("bea@example.com", "failed", "5.1.1")])
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        post_as(ids["author"], course.prompt_id, "After the bounce.")
    work(app)
    assert [r.rcpt_tos for r in sink.received] == [["cal@example.com"]]
