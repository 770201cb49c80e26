"""Support email: facilitators hear of help-now requests and crisis signals at once, an
unanswered one is escalated, a learner hears of a reply; no email carries private text."""

from __future__ import annotations

from datetime import timedelta

import pytest

from forum.courses.models import Module
from forum.database import utcnow
from forum.extensions import db
from forum.journals import services as journals
from forum.support import services as support
from forum.support.models import TriageItem
from notifications.emails import read_message
from notifications.jobs import JobContext
from notifications.models import Category, OutboxMessage
from notifications.support_mail import escalate_overdue

MARKER = "Zyxwv private marker 8812"
ORDINARY = f"This week I noticed how often I stay quiet. {MARKER}"
CRISIS = f"I have been having suicidal thoughts again and I don't know who to tell. {MARKER}"


@pytest.fixture
def app_config():
    return {"SUPPORT_BACKUP_ADDRESS": "backup-lead@example.org"}


def _mail(app) -> list[tuple[str, str, str, str]]:
    """(to, category, subject, text + html) of every queued message, decoded."""
    with app.app_context():
        rows = db.session.execute(db.select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        found = []
        for row in rows:
            read = read_message(row.raw_message)
            found.append(
                (row.to_address, row.category, read.subject, read.text + (read.html or ""))
            )
        return found


def _module(cast) -> Module:
    return (
        db.session.execute(db.select(Module).filter_by(course_id=cast.course_id)).scalars().first()
    )


def _write(cast, text: str):
    author = db.session.merge(cast.author)
    return journals.create_entry(author, _module(cast), text).entry


def test_a_help_now_request_alerts_this_course_facilitators_without_the_text(app, cast):
    with app.app_context():
        entry = _write(cast, ORDINARY)
        support.request_support(db.session.merge(cast.author), entry, "now")
        db.session.commit()
    mail = _mail(app)
    alerts = [m for m in mail if m[1] == Category.STAFF_ALERT]
    assert sorted(m[0] for m in alerts) == ["fay@example.com", "finn@example.com"]
    assert all("/support/queue/" in m[3] for m in alerts)
    assert all(MARKER not in m[3] and MARKER not in m[2] for m in mail)


def test_a_today_request_waits_in_the_queue_without_email(app, cast):
    with app.app_context():
        entry = _write(cast, ORDINARY)
        support.request_support(db.session.merge(cast.author), entry, "today")
        db.session.commit()
    assert [m for m in _mail(app) if m[1] == Category.STAFF_ALERT] == []


def test_a_crisis_signal_alerts_facilitators_without_the_words(app, cast):
    with app.app_context():
        _write(cast, CRISIS)
        db.session.commit()
    mail = _mail(app)
    alerts = [m for m in mail if m[1] == Category.STAFF_ALERT]
    assert sorted(m[0] for m in alerts) == ["fay@example.com", "finn@example.com"]
    for _to, _category, subject, body in mail:
        assert MARKER not in body and "suicidal" not in body and "suicidal" not in subject


def test_a_reply_tells_the_learner_without_the_text(app, cast):
    reply_text = f"Thank you for writing this. {MARKER} reply"
    with app.app_context():
        entry = _write(cast, ORDINARY)
        journals.reply(db.session.merge(cast.facilitator), entry, reply_text)
        db.session.commit()
        entry_id = entry.id
    to_learner = [m for m in _mail(app) if m[0] == "ada@example.com"]
    assert len(to_learner) == 1
    _to, _category, subject, body = to_learner[0]
    assert "replied to your journal" in subject
    assert f"/journal/entries/{entry_id}" in body
    assert MARKER not in body


def test_an_unanswered_urgent_item_is_escalated_once(app, cast):
    with app.app_context():
        entry = _write(cast, ORDINARY)
        support.request_support(db.session.merge(cast.author), entry, "now")
        db.session.commit()
        item = db.session.execute(db.select(TriageItem)).scalar_one()
        now = utcnow()
        # Not yet overdue: nothing happens.
        assert escalate_overdue(JobContext(worker_id="t", now=now)) == 0
        later = now + timedelta(minutes=int(app.config["SUPPORT_ESCALATE_AFTER_MINUTES"]) + 1)
        assert escalate_overdue(JobContext(worker_id="t", now=later)) == 1
        db.session.commit()
        assert db.session.get(TriageItem, item.id).alerted_at is not None
        assert escalate_overdue(JobContext(worker_id="t", now=later)) == 0
        db.session.commit()
    escalations = [m for m in _mail(app) if m[0] == "backup-lead@example.org"]
    assert len(escalations) == 1
    assert "still waiting" in escalations[0][2] and MARKER not in escalations[0][3]


def test_an_answered_item_is_not_escalated(app, cast):
    with app.app_context():
        entry = _write(cast, ORDINARY)
        support.request_support(db.session.merge(cast.author), entry, "now")
        journals.reply(db.session.merge(cast.facilitator), entry, "I'm here; let's talk today.")
        db.session.commit()
        later = utcnow() + timedelta(days=1)
        assert escalate_overdue(JobContext(worker_id="t", now=later)) == 0
