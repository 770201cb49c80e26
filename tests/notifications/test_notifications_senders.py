"""Account email from the core's signals, and queue_email for any other package."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from forum.accounts import services as accounts
from forum.accounts.models import User
from forum.extensions import db
from notifications import services
from notifications.models import OutboxMessage, UnsubscribeToken
from tests.notifications.helpers import outbox, work


def test_account_emails_arrive_even_when_discussion_email_is_off(app, people, smtp_sink):
    bea_id = people["bea"].id
    with app.app_context():
        bea = db.session.get(User, bea_id)
        services.update_preferences(bea, "none", False)
        services.pause_discussion_email(bea, 4)
        services.mark_bouncing("bea@example.com", "550 earlier")
        accounts.request_password_reset("bea@example.com")
        accounts.request_signup("new@example.com", "Newcomer", "a long enough password 123")
        db.session.commit()
    work(app)
    reset = smtp_sink.to("bea@example.com")
    assert len(reset) == 1
    message = reset[0].message
    assert str(message["Subject"]) == "Reset your Hearth password"
    assert "https://hearth.test/" in reset[0].text
    assert message["List-Unsubscribe"] is None
    assert "Unsubscribe" not in reset[0].text
    [confirm] = smtp_sink.to("new@example.com")
    assert "Confirm your email address" in str(confirm.message["Subject"])
    assert {r.category for r in outbox(app)} == {"account"}


def test_email_change_mails_the_new_address_and_then_the_old_one(app, people, smtp_sink):
    from forum.signals import email_change_requested, email_changed

    with app.app_context():
        bea = db.session.get(User, people["bea"].id)
        email_change_requested.send(
            app, user=bea, new_email="bea.new@example.com", url="https://hearth.test/c/1"
        )
        email_changed.send(app, user=bea, old_email="bea.old@example.com")
        db.session.commit()
    work(app)
    assert "https://hearth.test/c/1" in smtp_sink.to("bea.new@example.com")[0].text
    assert len(smtp_sink.to("bea.old@example.com")) == 1


def test_queue_email_for_another_package_gets_the_footer_and_headers(
    app, course, people, smtp_sink
):
    with app.app_context():
        bea = db.session.get(User, people["bea"].id)
        row = services.queue_email(
            bea,
            "A facilitator replied to you",
            "Open the site to read the reply.",
            category="discussion",
            dedupe_key="journal-reply:1:bea",
            unsubscribe_scope=("thread", course.prompt_id),
        )
        again = services.queue_email(
            bea, "Other subject", "Other", category="discussion", dedupe_key="journal-reply:1:bea"
        )
        assert again.id == row.id
        token = db.session.execute(
            select(UnsubscribeToken).filter_by(user_id=bea.id, scope="thread")
        ).scalar_one()
        unsubscribe_url = row.list_unsubscribe_url
        assert unsubscribe_url == f"https://hearth.test/u/{token.token}"
        db.session.commit()
    work(app)
    [mail] = smtp_sink.to("bea@example.com")
    assert "Open the site to read the reply." in mail.text
    assert "Open the site to read the reply." in mail.html
    assert "Unsubscribe from this thread" in mail.text
    assert str(mail.message["List-Unsubscribe"]) == f"<{unsubscribe_url}>"
    assert str(mail.message["Auto-Submitted"]) == "auto-generated"


def test_queue_email_refuses_what_it_cannot_send_properly(app, people):
    with app.app_context():
        bea = db.session.get(User, people["bea"].id)
        with pytest.raises(ValueError, match="category"):
            services.queue_email(bea, "Hi", "x", category="marketing", dedupe_key="a")
        with pytest.raises(ValueError, match="unsubscribe"):
            services.queue_email("x@example.com", "Hi", "x", dedupe_key="b")
        with pytest.raises(ValueError, match="subject"):
            services.queue_email(bea, "", "x", dedupe_key="c")
        services.pause_discussion_email(bea, 1)
        assert services.queue_email(bea, "Hi", "x", dedupe_key="d") is None
        assert db.session.execute(select(OutboxMessage)).scalars().all() == []


def test_tokens_are_reused_per_scope(app, people):
    with app.app_context():
        keys = [(people["bea"].id, "all_discussion", 0), (people["bea"].id, "thread", 7)]
        first = services.ensure_tokens(keys)
        second = services.ensure_tokens(keys)
        assert first == second
        assert all(len(t) == 22 for t in first.values())
        assert len(set(first.values())) == 2
