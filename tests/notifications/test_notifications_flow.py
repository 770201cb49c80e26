"""A post in a watched thread, end to end: event, edit window, fan-out, SMTP, headers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from forum.accounts.models import User
from forum.database import utcnow
from forum.extensions import db
from forum.threads.models import Post
from forum.threads.services import delete_post, edit_post
from notifications.models import EventStatus, NotificationEvent, OutboxMessage, Subscription
from notifications.worker import fan_out_due
from tests.notifications.helpers import UNSUB_RE, outbox, post_as, subscribe, work


def _watch(app, user_ids, prompt_id):
    with app.app_context():
        subscribe(user_ids, prompt_id=prompt_id)
        db.session.commit()


def test_post_in_watched_thread_mails_each_subscriber_but_the_author(
    app, course, people, smtp_sink
):
    ids = {k: u.id for k, u in people.items()}
    _watch(app, [ids["bea"], ids["cal"]], course.prompt_id)
    with app.app_context():
        post_as(ids["author"], course.prompt_id, "What I noticed on the bus today.")
        # The author is now subscribed to the thread by posting.
        row = db.session.execute(
            select(Subscription).filter_by(user_id=ids["author"], prompt_id=course.prompt_id)
        ).scalar_one()
        assert row.mode == "watching"
    work(app)
    assert sorted(r.rcpt_tos[0] for r in smtp_sink.received) == [
        "bea@example.com",
        "cal@example.com",
    ]
    mail = smtp_sink.to("bea@example.com")[0]
    message = mail.message
    assert str(message["Subject"]) == "New reflection in “A first memory”"
    assert "What I noticed on the bus today." in mail.text
    assert "What I noticed on the bus today." in mail.html
    assert message.get_body(preferencelist=("plain",)) is not None
    assert message.get_body(preferencelist=("html",)) is not None
    assert all(r.status == "sent" for r in outbox(app))


def test_raw_message_carries_exact_unsubscribe_headers_and_footer_links(
    app, course, people, smtp_sink
):
    ids = {k: u.id for k, u in people.items()}
    _watch(app, [ids["bea"]], course.prompt_id)
    with app.app_context():
        post_as(ids["author"], course.prompt_id, "A reflection.")
    work(app)
    [mail] = smtp_sink.received
    [row] = outbox(app)
    expected = row.list_unsubscribe_url
    assert re.fullmatch(r"https://hearth\.test/u/[A-Za-z0-9_-]{22}", expected)
    # The raw header line, unfolded and not RFC 2047-encoded ...
    assert UNSUB_RE.findall(mail.raw) == [expected.encode()]
    assert re.search(rb"^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$", mail.raw, re.M)
    # ... and what a mail client's parser gets back.
    message = mail.message
    assert str(message["List-Unsubscribe"]) == f"<{expected}>"
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(message["Message-ID"]) == row.message_id
    for body in (mail.text, mail.html):
        assert expected in body
        assert "Unsubscribe from this thread" in body
        assert "Manage email preferences" in body
        assert "Unsubscribe from all discussion email" in body
        assert "https://hearth.test/notifications/preferences" in body
    all_links = re.findall(r"https://hearth\.test/u/[A-Za-z0-9_-]{22}", mail.text)
    assert len(set(all_links)) == 2  # this thread, and all discussion email


def test_edits_inside_the_window_are_included(app, course, people, smtp_sink):
    app.config["NOTIFICATIONS_EDIT_WINDOW"] = 600
    ids = {k: u.id for k, u in people.items()}
    _watch(app, [ids["bea"]], course.prompt_id)
    with app.app_context():
        post_id = post_as(ids["author"], course.prompt_id, "First draft with a typo.")
    work(app)
    assert smtp_sink.received == []  # still inside the edit window
    with app.app_context():
        edit_post(db.session.get(User, ids["author"]), db.session.get(Post, post_id), "Fixed.")
        db.session.execute(update(NotificationEvent).values(due_at=utcnow()))
        db.session.commit()
    work(app)
    [mail] = smtp_sink.received
    assert "Fixed." in mail.text
    assert "typo" not in mail.text


@pytest.mark.parametrize("outcome", ["held", "deleted"])
def test_post_held_or_deleted_inside_the_window_is_never_mailed(
    app, course, people, smtp_sink, outcome
):
    app.config["NOTIFICATIONS_EDIT_WINDOW"] = 600
    ids = {k: u.id for k, u in people.items()}
    _watch(app, [ids["bea"]], course.prompt_id)
    with app.app_context():
        post_id = post_as(ids["author"], course.prompt_id, "Something.")
        post = db.session.get(Post, post_id)
        if outcome == "held":
            post.status = "held"  # as a moderator's hold would
        else:
            delete_post(db.session.get(User, ids["author"]), post)
        db.session.execute(update(NotificationEvent).values(due_at=utcnow()))
        db.session.commit()
    work(app)
    assert smtp_sink.received == []
    with app.app_context():
        event = db.session.execute(select(NotificationEvent)).scalar_one()
        assert event.status == EventStatus.CANCELLED
    assert outbox(app) == []


def test_rolled_back_post_writes_no_event_and_no_outbox_row(app, course, people, smtp_sink):
    ids = {k: u.id for k, u in people.items()}
    _watch(app, [ids["bea"]], course.prompt_id)
    from forum.courses.models import Prompt
    from forum.threads.services import create_post

    with app.app_context():
        create_post(
            db.session.get(User, ids["author"]), db.session.get(Prompt, course.prompt_id), "x"
        )
        assert db.session.execute(select(NotificationEvent)).scalars().all()
        db.session.rollback()
        assert db.session.execute(select(NotificationEvent)).scalars().all() == []
    work(app)
    assert outbox(app) == []
    assert smtp_sink.received == []


def test_one_event_gives_each_recipient_at_most_one_email(app, course, people, smtp_sink):
    ids = {k: u.id for k, u in people.items()}
    _watch(app, [ids["bea"], ids["cal"]], course.prompt_id)
    with app.app_context():
        post_as(ids["author"], course.prompt_id, "Once.")
        assert fan_out_due() == 2
        # A crashed worker would fan the same event out again: the unique key holds.
        db.session.execute(
            update(NotificationEvent).values(status=EventStatus.PENDING, fanout_cursor=0)
        )
        db.session.commit()
        assert fan_out_due() == 2  # offered again ...
        assert len(db.session.execute(select(OutboxMessage)).scalars().all()) == 2  # ... kept once
    work(app)
    assert len(smtp_sink.received) == 2


def test_module_watchers_get_mail_and_a_muted_thread_beats_the_module(
    app, course, people, smtp_sink
):
    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        subscribe([ids["bea"], ids["cal"]], module_id=course.module_id)
        subscribe([ids["cal"]], prompt_id=course.prompt_id, mode="muted")
        db.session.commit()
        post_as(ids["author"], course.prompt_id, "Module-wide news.")
        post_as(ids["author"], course.other_module_prompt_id, "Elsewhere.")
    work(app)
    assert [r.rcpt_tos for r in smtp_sink.received] == [["bea@example.com"]]
    [row] = outbox(app)
    assert "Unsubscribe from this module" in smtp_sink.received[0].text
    assert row.list_unsubscribe_url in smtp_sink.received[0].text


def test_suspended_paused_digest_and_none_get_nothing_immediate(
    app, course, people, make_user, smtp_sink
):
    from forum.accounts.models import Role
    from notifications import services

    ids = {k: u.id for k, u in people.items()}
    eve = make_user(Role.PARTICIPANT, email="eve@example.com", name="Eve")
    _watch(app, [ids["bea"], ids["cal"], ids["dee"], eve.id], course.prompt_id)
    with app.app_context():
        db.session.get(User, ids["bea"]).suspended_until = utcnow() + timedelta(days=3)
        services.pause_discussion_email(db.session.get(User, ids["cal"]), 1)
        services.update_preferences(db.session.get(User, ids["dee"]), "none", True)
        services.update_preferences(db.session.get(User, eve.id), "digest", True)
        db.session.commit()
        post_as(ids["author"], course.prompt_id, "Hello?")
    work(app)
    assert smtp_sink.received == []


def test_excerpts_off_leaves_the_post_text_out(app, course, people, smtp_sink):
    from notifications import services

    ids = {k: u.id for k, u in people.items()}
    _watch(app, [ids["bea"], ids["cal"]], course.prompt_id)
    with app.app_context():
        services.update_preferences(db.session.get(User, ids["bea"]), "immediate", False)
        db.session.commit()
        post_as(ids["author"], course.prompt_id, "A sentence only some should read in mail.")
    work(app)
    assert "only some should read" not in smtp_sink.to("bea@example.com")[0].text
    assert "only some should read" not in smtp_sink.to("bea@example.com")[0].html
    assert "only some should read" in smtp_sink.to("cal@example.com")[0].text


def test_post_text_is_escaped_in_the_html_part(app, course, people, smtp_sink):
    ids = {k: u.id for k, u in people.items()}
    _watch(app, [ids["bea"]], course.prompt_id)
    with app.app_context():
        post_as(ids["author"], course.prompt_id, 'Look: <script>alert("x")</script> & <b>bold</b>')
    work(app)
    [mail] = smtp_sink.received
    assert "<script>" not in mail.html and "<b>bold</b>" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert '<script>alert("x")</script>' in mail.text  # plain text is just text


def test_status_command_counts_the_outbox(app, course, people, smtp_sink, runner):
    ids = {k: u.id for k, u in people.items()}
    _watch(app, [ids["bea"], ids["cal"]], course.prompt_id)
    with app.app_context():
        post_as(ids["author"], course.prompt_id, "Count me.")
    result = runner.invoke(args=["notifications", "worker", "--once"])
    assert result.exit_code == 0 and "sent 2" in result.output
    status = runner.invoke(args=["notifications", "status"])
    assert status.exit_code == 0
    lines = status.output.splitlines()
    assert lines[:4] == ["events:", "  done       1", "messages:", "  sent       2"]
    assert "oldest queued message: none" in lines


def test_status_command_shows_the_oldest_queued_message_and_due_event(app, course, people, runner):
    ids = {k: u.id for k, u in people.items()}
    _watch(app, [ids["bea"]], course.prompt_id)
    with app.app_context():
        post_as(ids["author"], course.prompt_id, "Waiting.")
        from notifications.services import queue_email

        queue_email("x@example.com", "Hi", "x", category="account", dedupe_key="k")
        db.session.execute(
            update(OutboxMessage).values(created_at=utcnow() - timedelta(minutes=42))
        )
        db.session.execute(update(NotificationEvent).values(due_at=utcnow() - timedelta(hours=3)))
        db.session.commit()
    status = runner.invoke(args=["notifications", "status"])
    assert status.exit_code == 0, status.output
    assert "  pending    1" in status.output and "  queued     1" in status.output
    assert "oldest queued message: 42 min" in status.output
    assert "oldest due event:      3 h 0 min" in status.output
    assert "failed" not in status.output


def test_a_held_post_approved_later_is_mailed_once_then(app, course, people, smtp_sink):
    """Held at creation: nothing is mailed. Approved later: mailed once, after approval."""
    from forum.accounts.models import Role
    from forum.courses.models import Prompt
    from forum.signals import Hold, post_created
    from forum.threads.models import PostStatus
    from forum.threads.services import change_post_status, create_post

    ids = {k: u.id for k, u in people.items()}
    _watch(app, [ids["bea"]], course.prompt_id)

    def hold_everything(_app, post):
        return Hold(rule="test", reason="waiting for a moderator")

    with app.app_context(), post_created.connected_to(hold_everything):
        post, _ = create_post(
            db.session.get(User, ids["author"]),
            db.session.get(Prompt, course.prompt_id),
            "Held at first.",
        )
        db.session.commit()
        post_id = post.id
    work(app)
    assert smtp_sink.received == []

    with app.app_context():
        moderator = db.session.get(User, ids["cal"])
        moderator.role = Role.MODERATOR
        change_post_status(moderator, db.session.get(Post, post_id), PostStatus.VISIBLE)
        db.session.commit()
    work(app)
    work(app)
    assert [m.rcpt_tos for m in smtp_sink.received] == [["bea@example.com"]]
    assert "Held at first." in smtp_sink.received[0].text

    with app.app_context():  # hidden and restored again: no second email
        post = db.session.get(Post, post_id)
        moderator = db.session.get(User, ids["cal"])
        change_post_status(moderator, post, PostStatus.HIDDEN, reason="flags")
        change_post_status(moderator, post, PostStatus.VISIBLE, reason="kept")
        db.session.commit()
    work(app)
    assert len(smtp_sink.received) == 1


# A base URL long enough that "List-Unsubscribe: <...>" passes 78 columns: folding there
# (which the email package does to long header lines) would break the URI in two.
LONG_BASE_URL = (
    "https://reflections.continuing-education.a-rather-long-university-name.example.org"
    "/cohorts/autumn-2026/hearth"
)


def test_a_long_unsubscribe_uri_is_sent_on_one_unfolded_line(
    other_app, app, course, people, smtp_sink
):
    long_app = other_app(
        NOTIFICATIONS_EDIT_WINDOW=0,
        NOTIFICATIONS_DIGEST_HOUR=None,
        NOTIFICATIONS_TRANSPORT="smtp",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_sink.port,
        MAIL_TIMEOUT=5,
        BASE_URL=LONG_BASE_URL,
    )
    ids = {k: u.id for k, u in people.items()}
    _watch(long_app, [ids["bea"]], course.prompt_id)
    with long_app.app_context():
        post_as(ids["author"], course.prompt_id, "A reflection.")
    work(long_app)
    [mail] = smtp_sink.received
    [row] = outbox(long_app)
    expected = row.list_unsubscribe_url
    assert expected.startswith(LONG_BASE_URL + "/u/")
    line = f"List-Unsubscribe: <{expected}>"
    assert len(line) > 78, "the URI must be long enough that folding would split it"
    assert UNSUB_RE.findall(mail.raw) == [expected.encode()]
    assert str(mail.message["List-Unsubscribe"]) == f"<{expected}>"
    assert expected in mail.text and expected in mail.html
