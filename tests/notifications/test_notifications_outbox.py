"""The outbox: staff alerts, one stored copy of each message, and pruning."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select, update

from forum.accounts.models import User
from forum.database import utcnow
from forum.extensions import db
from notifications import services
from notifications.emails import HeaderInjectionError, read_message
from notifications.models import (
    Category,
    EventStatus,
    NotificationEvent,
    OutboxMessage,
    OutboxStatus,
)
from tests.notifications.helpers import add_unchecked_user, outbox, subscribe, work


@pytest.fixture
def unreachable_bea(app, course, people):
    """Bea turned discussion email off, paused it, muted the thread, and bounces."""
    with app.app_context():
        bea = db.session.get(User, people["bea"].id)
        services.update_preferences(bea, "none", False)
        services.pause_discussion_email(bea, 4)
        subscribe([bea.id], prompt_id=course.prompt_id, mode="muted")
        services.mark_bouncing("bea@example.com", "550 earlier")
        db.session.commit()
        return bea.id


def test_a_staff_alert_is_never_suppressed_and_has_no_unsubscribe(app, unreachable_bea, smtp_sink):
    with app.app_context():
        bea = db.session.get(User, unreachable_bea)
        # Discussion mail to her is suppressed ...
        assert services.queue_email(bea, "Hi", "x", dedupe_key="discussion") is None
        # ... a staff alert, through queue_email or its helper, is not.
        services.queue_email(
            bea,
            "A learner asked for help",
            "Open the queue to see who.",
            category="staff_alert",
            dedupe_key="alert:1",
        )
        services.queue_staff_alert(
            bea,
            "An entry waits for you",
            "A journal entry is waiting in your queue.",
            "https://hearth.test/facilitate",
            dedupe_key="alert:2",
        )
        with pytest.raises(ValueError, match="no unsubscribe link"):
            services.queue_email(
                bea,
                "Hi",
                "x",
                category="staff_alert",
                dedupe_key="alert:3",
                unsubscribe_scope=("thread", 1),
            )
        db.session.commit()
    work(app)
    mails = smtp_sink.to("bea@example.com")
    assert len(mails) == 2
    for mail in mails:
        assert mail.message["List-Unsubscribe"] is None
        assert mail.message["List-Unsubscribe-Post"] is None
        assert str(mail.message["Auto-Submitted"]) == "auto-generated"
        assert "Unsubscribe" not in mail.text and "Unsubscribe" not in mail.html
        assert "Manage email preferences" not in mail.text
    by_subject = {str(m.message["Subject"]): m for m in mails}
    helper = by_subject["An entry waits for you"]
    assert "A journal entry is waiting in your queue." in helper.text
    assert "https://hearth.test/facilitate" in helper.text
    # The same link in both parts; the HTML's is the message's one button.
    assert re.findall(r'href="([^"]+)"', helper.html) == ["https://hearth.test/facilitate"]
    assert 'class="email-button-link" href="https://hearth.test/facilitate"' in helper.html
    assert "because of your staff role on Hearth" in helper.text
    assert "because of your staff role on Hearth" in helper.html
    assert {r.category for r in outbox(app)} == {Category.STAFF_ALERT}
    assert all(r.list_unsubscribe_url is None for r in outbox(app))


def test_each_message_is_stored_once_as_the_bytes_that_are_sent(app, course, people, smtp_sink):
    columns = {c.key for c in inspect(OutboxMessage).columns}
    assert not columns & {"text_body", "html_body"}
    assert {"raw_message", "to_address", "subject", "message_id", "category"} <= columns
    with app.app_context():
        bea = db.session.get(User, people["bea"].id)
        row = services.queue_email(
            bea,
            "About “this”",
            "Body text.",
            category="discussion",
            dedupe_key="once",
            unsubscribe_scope=("thread", course.prompt_id),
        )
        stored = read_message(row.raw_message)
        raw, message_id, unsubscribe = row.raw_message, row.message_id, row.list_unsubscribe_url
        db.session.commit()
    assert stored.subject == "About “this”" and stored.to == "bea@example.com"
    assert stored.message_id == message_id
    assert stored.list_unsubscribe == f"<{unsubscribe}>"
    assert "Body text." in stored.text and "Unsubscribe from this thread" in stored.text
    assert "Body text." in stored.html
    work(app)
    [mail] = smtp_sink.received
    assert mail.raw.rstrip(b"\r\n") == raw.rstrip(b"\r\n")  # the very bytes stored


def test_queue_email_to_a_user_whose_address_cannot_be_written_gives_a_failed_row(app):
    with app.app_context():
        uid = add_unchecked_user("jürgen@example.com", "Jürgen")
        user = db.session.get(User, uid)
        # Account mail (a password reset, say) must not break the request that sent it.
        row = services.queue_email(user, "Reset", "Link", category="account", dedupe_key="r")
        assert row.status == OutboxStatus.FAILED and row.raw_message is None
        assert "UnicodeEncodeError" in row.last_error
        # What the caller passes in is still refused outright.
        with pytest.raises(HeaderInjectionError):
            services.queue_email(user, "Bad\nsubject", "x", category="account", dedupe_key="s")
        db.session.commit()
    work(app)
    assert outbox(app)[0].status == OutboxStatus.FAILED


def _old_and_new_rows(app, now):
    """One message and one event per status, each both 40 days and 1 day old."""
    with app.app_context():
        for age in (40, 1):
            for status in OutboxStatus:
                services.queue_email(
                    f"{status}-{age}@example.com",
                    "Hi",
                    "x",
                    category="account",
                    dedupe_key=f"{status}:{age}",
                )
                db.session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.dedupe_key == f"{status}:{age}")
                    .values(status=status, created_at=now - timedelta(days=age))
                )
            for status in EventStatus:
                db.session.add(
                    NotificationEvent(
                        kind="new_post",
                        subject_type="posts",
                        subject_id=None,
                        due_at=now - timedelta(days=age),
                        status=status,
                        created_at=now - timedelta(days=age),
                    )
                )
        db.session.commit()


def _left(app):
    with app.app_context():
        messages = db.session.execute(
            select(OutboxMessage.status, OutboxMessage.to_address).order_by(OutboxMessage.id)
        ).all()
        events = db.session.execute(
            select(NotificationEvent.status, NotificationEvent.created_at).order_by(
                NotificationEvent.id
            )
        ).all()
        return messages, events


def test_prune_deletes_old_finished_rows_in_batches_and_keeps_the_rest(app, runner):
    app.config["NOTIFICATIONS_PRUNE_BATCH"] = 2  # several statements per table
    now = utcnow()
    _old_and_new_rows(app, now)
    result = runner.invoke(args=["notifications", "prune"])  # default: 30 days
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "pruned 2 message(s) and 2 event(s) older than 30 days"
    messages, events = _left(app)
    gone = {"sent-40@example.com", "cancelled-40@example.com"}
    assert {address for _status, address in messages} == {
        f"{status}-{age}@example.com" for status in OutboxStatus for age in (40, 1)
    } - gone
    old_events = {status for status, created in events if created < now - timedelta(days=30)}
    assert old_events == {EventStatus.PENDING, EventStatus.FAILED}
    assert len(events) == 2 * len(EventStatus) - 2

    again = runner.invoke(args=["notifications", "prune"])
    assert "pruned 0 message(s) and 0 event(s)" in again.output
    shorter = runner.invoke(args=["notifications", "prune", "--older-than", "0"])
    assert shorter.exit_code == 0, shorter.output
    messages, events = _left(app)
    assert {status for status, _ in messages} == {
        OutboxStatus.QUEUED,
        OutboxStatus.SENDING,
        OutboxStatus.FAILED,
    }
    assert sorted(str(s) for s, _ in events) == ["failed", "failed", "pending", "pending"]
    bad = runner.invoke(args=["notifications", "prune", "--older-than", "-1"])
    assert bad.exit_code != 0


def test_prune_keeps_the_newest_event_so_its_id_is_never_handed_out_again(app):
    from notifications.housekeeping import prune

    now = utcnow()
    with app.app_context():
        for _ in range(3):
            db.session.add(
                NotificationEvent(
                    kind="new_post",
                    subject_type="posts",
                    due_at=now - timedelta(days=40),
                    status=EventStatus.DONE,
                    created_at=now - timedelta(days=40),
                )
            )
        db.session.commit()
        assert prune().events == 2
        db.session.commit()
        assert db.session.execute(select(func.count()).select_from(NotificationEvent)).scalar() == 1
