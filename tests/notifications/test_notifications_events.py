"""Events have a kind, a subject and a handler; a failing one is retried, then set aside,
and never holds up the others."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from forum.accounts.models import User
from forum.database import utcnow
from forum.extensions import db
from forum.threads.models import Post, PostStatus
from forum.threads.services import change_post_status
from notifications.emails import read_message
from notifications.events import EventBatch, queue_event, register_event_kind
from notifications.models import EventStatus, NotificationEvent, OutboxMessage
from notifications.outbox import queue_email
from tests.notifications.helpers import (
    add_unchecked_user,
    events,
    outbox,
    post_as,
    subscribe,
    work,
)


def _make_due(app) -> None:
    """Pretend the retry delays have passed."""
    with app.app_context():
        db.session.execute(update(NotificationEvent).values(next_attempt_at=utcnow()))
        db.session.commit()


def test_a_new_post_event_names_its_kind_and_subject(app, course, people):
    with app.app_context():
        post_id = post_as(people["author"].id, course.prompt_id, "Hello.")
    [event] = events(app)
    assert (event.kind, event.subject_type, event.subject_id) == ("new_post", "posts", post_id)
    assert event.status == EventStatus.PENDING and event.attempts == 0


def test_a_recipient_whose_message_cannot_be_built_fails_alone_and_blocks_nothing(
    app, course, people, smtp_sink, runner
):
    """Before: the fan-out raised on the address, the event stayed pending, and every
    later new-post notification on the site waited behind it."""
    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        # An address the accounts form refuses now, from before it did.
        jurgen = add_unchecked_user("jürgen@example.com", "Jürgen")
        subscribe([jurgen, ids["bea"]], prompt_id=course.prompt_id)
        subscribe([ids["cal"]], prompt_id=course.other_prompt_id)
        db.session.commit()
        post_as(ids["author"], course.prompt_id, "One.")
        post_as(ids["author"], course.other_prompt_id, "Two.")
    work(app)
    assert sorted(r.rcpt_tos[0] for r in smtp_sink.received) == [
        "bea@example.com",
        "cal@example.com",
    ]
    assert [e.status for e in events(app)] == [EventStatus.DONE, EventStatus.DONE]
    [bad] = outbox(app, user_id=jurgen)
    assert bad.status == "failed" and bad.raw_message is None
    assert "could not build the message" in bad.last_error
    assert "UnicodeEncodeError" in bad.last_error
    status = runner.invoke(args=["notifications", "status"])
    assert status.exit_code == 0, status.output
    assert "failed (latest 1):" in status.output
    assert "jürgen@example.com" in status.output and "UnicodeEncodeError" in status.output


@pytest.fixture
def flaky(app):
    """A kind whose handler raises while ``state["fail"]`` is set, and mails Bea otherwise."""
    state = {"fail": True, "calls": 0}

    def handler(event: NotificationEvent, now) -> EventBatch:
        state["calls"] += 1
        if state["fail"]:
            raise RuntimeError("the journal service is down")
        user = db.session.get(User, event.subject_id)
        queue_email(user, "A note", event.payload["text"], dedupe_key=f"note:{event.id}")
        return EventBatch(queued=1)

    register_event_kind("test_flaky", handler, app=app)
    return state


def test_a_failing_event_is_retried_with_backoff_and_others_go_on(
    app, course, people, smtp_sink, flaky
):
    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        subscribe([ids["cal"]], prompt_id=course.prompt_id)
        db.session.commit()
        queue_event("test_flaky", db.session.get(User, ids["bea"]), payload={"text": "Hi."})
        db.session.commit()
        post_as(ids["author"], course.prompt_id, "Queued after the flaky one.")
    before = utcnow()
    work(app)
    # The new post went out though the earlier event failed.
    assert [r.rcpt_tos for r in smtp_sink.received] == [["cal@example.com"]]
    flaky_event, new_post = events(app)
    assert new_post.status == EventStatus.DONE
    assert flaky_event.status == EventStatus.PENDING and flaky_event.attempts == 1
    assert flaky_event.last_error == "RuntimeError: the journal service is down"
    delay = (flaky_event.next_attempt_at - before).total_seconds()
    assert 55 < delay < 65
    assert flaky_event.claimed_by is None  # nobody holds it while it waits

    work(app)  # not due again yet
    assert flaky["calls"] == 1
    flaky["fail"] = False
    _make_due(app)
    work(app)
    [note] = smtp_sink.to("bea@example.com")
    assert "Hi." in note.text
    [done, _] = events(app)
    assert done.status == EventStatus.DONE and done.attempts == 0 and done.last_error is None


def test_an_event_that_keeps_failing_is_set_aside_with_its_error(
    app, people, smtp_sink, flaky, caplog
):
    app.config["NOTIFICATIONS_EVENT_MAX_ATTEMPTS"] = 3
    with app.app_context():
        queue_event("test_flaky", db.session.get(User, people["bea"].id), payload={"text": "x"})
        db.session.commit()
    delays = []
    for _ in range(3):
        before = utcnow()
        work(app)
        [event] = events(app)
        if event.next_attempt_at is not None:
            delays.append((event.next_attempt_at - before).total_seconds())
        _make_due(app)
    assert 55 < delays[0] < 65 and 115 < delays[1] < 125  # 1 minute, then 2
    assert event.status == EventStatus.FAILED and event.finished_at is not None
    assert event.last_error == "gave up after 3 attempts: RuntimeError: the journal service is down"
    assert any("set aside" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    work(app)
    assert flaky["calls"] == 3  # a failed event is never tried again


def test_an_event_whose_handling_kills_the_worker_is_set_aside_too(app, people, flaky):
    app.config["NOTIFICATIONS_EVENT_MAX_ATTEMPTS"] = 2
    with app.app_context():
        queue_event("test_flaky", db.session.get(User, people["bea"].id), payload={"text": "x"})
        # Claimed twice by workers that died in the handler: the leases ran out.
        db.session.execute(
            update(NotificationEvent).values(
                attempts=2, claimed_by="dead-worker", claimed_until=utcnow() - timedelta(seconds=1)
            )
        )
        db.session.commit()
    work(app)
    [event] = events(app)
    assert event.status == EventStatus.FAILED
    assert event.last_error == "gave up after 2 attempts: the worker stopped while handling it"
    assert flaky["calls"] == 0


def test_an_event_under_a_live_claim_is_left_to_its_worker(app, people, flaky):
    flaky["fail"] = False
    with app.app_context():
        queue_event("test_flaky", db.session.get(User, people["bea"].id), payload={"text": "x"})
        db.session.execute(
            update(NotificationEvent).values(
                attempts=1, claimed_by="busy-worker", claimed_until=utcnow() + timedelta(minutes=5)
            )
        )
        db.session.commit()
    work(app)
    assert flaky["calls"] == 0
    assert events(app)[0].status == EventStatus.PENDING


def test_an_event_of_an_unknown_kind_is_failed_and_logged_never_dropped(
    app, people, smtp_sink, caplog, runner
):
    with app.app_context():
        with pytest.raises(ValueError, match="no handler for event kind 'journal_reply'"):
            queue_event("journal_reply", ("journal_entries", 1))
        # As if queued by a package that is no longer loaded.
        db.session.add(
            NotificationEvent(
                kind="journal_reply",
                subject_type="journal_entries",
                subject_id=7,
                due_at=utcnow(),
                status=EventStatus.PENDING,
            )
        )
        queue_email(db.session.get(User, people["bea"].id), "Hi", "Body", dedupe_key="k")
        db.session.commit()
    with caplog.at_level(logging.ERROR, logger="notifications.events"):
        work(app)
    [event] = events(app)
    assert event.status == EventStatus.FAILED
    assert event.last_error == "no handler for kind journal_reply"
    assert "no handler for kind journal_reply" in caplog.text
    assert len(smtp_sink.received) == 1  # and the rest of the cycle went on
    status = runner.invoke(args=["notifications", "status"])
    assert "event 1 (journal_reply journal_entries/7): no handler for kind journal_reply" in (
        status.output
    )


def test_a_handler_can_work_in_batches_and_is_called_until_finished(app, people):
    calls = []

    def handler(event: NotificationEvent, now) -> EventBatch:
        calls.append(event.fanout_cursor)
        event.fanout_cursor += 1
        return EventBatch(queued=1, finished=event.fanout_cursor == 3)

    register_event_kind("test_batches", handler, app=app)
    with app.app_context():
        queue_event("test_batches", ("things", 1))
        db.session.commit()
    work(app)
    assert calls == [0, 1, 2]
    assert events(app)[0].status == EventStatus.DONE


def test_registering_a_kind_twice_with_another_handler_is_refused(app):
    def first(event, now):
        return EventBatch()

    def second(event, now):
        return EventBatch()

    register_event_kind("test_twice", first, app=app)
    register_event_kind("test_twice", first, app=app)  # the same one again is fine
    with pytest.raises(ValueError, match="already has another handler"):
        register_event_kind("test_twice", second, app=app)
    with pytest.raises(ValueError, match="lower_snake_case"):
        register_event_kind("Not A Kind", first, app=app)


def test_queue_event_waits_for_due_at_and_keeps_its_payload(app, people, flaky):
    flaky["fail"] = False
    with app.app_context():
        bea = db.session.get(User, people["bea"].id)
        later = utcnow() + timedelta(hours=1)
        queue_event("test_flaky", bea, due_at=later, payload={"text": "Later."})
        with pytest.raises(ValueError, match="JSON"):
            queue_event("test_flaky", bea, payload={"when": utcnow()})
        db.session.commit()
    work(app)
    assert flaky["calls"] == 0
    [event] = events(app)
    assert event.payload == {"text": "Later."} and event.subject_type == "users"
    with app.app_context():
        db.session.execute(update(NotificationEvent).values(due_at=utcnow()))
        db.session.commit()
    work(app)
    assert flaky["calls"] == 1


def test_hiding_a_post_cancels_only_its_new_post_event(app, course, people):
    seen = []
    register_event_kind(
        "test_outcome", lambda event, now: seen.append(event.subject_id) or EventBatch(), app=app
    )
    app.config["NOTIFICATIONS_EDIT_WINDOW"] = 600
    with app.app_context():
        post_id = post_as(people["author"].id, course.prompt_id, "To be hidden.")
        post = db.session.get(Post, post_id)
        queue_event("test_outcome", post)
        change_post_status(None, post, PostStatus.HIDDEN, reason="flagged")
        db.session.commit()
    new_post, outcome = events(app)
    assert new_post.status == EventStatus.CANCELLED
    assert outcome.status == EventStatus.PENDING  # the author must still hear the outcome
    work(app)
    assert seen == [post_id]


def test_a_reply_tells_the_parent_author_so_in_the_subject(app, course, people, smtp_sink):
    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        subscribe([ids["cal"]], prompt_id=course.prompt_id)
        db.session.execute(
            update(User).where(User.id == ids["author"]).values(display_name="Ada\tA.\u202e")
        )
        db.session.commit()
        parent = post_as(ids["bea"], course.prompt_id, "Bea's reflection.")
    work(app)
    with app.app_context():
        post_as(ids["author"], course.prompt_id, "A reply to Bea.", parent_id=parent)
    work(app)
    [to_bea] = smtp_sink.to("bea@example.com")
    assert str(to_bea.message["Subject"]) == (
        "“Ada A.” replied to your reflection in “A first memory”"
    )
    assert "A reply to Bea." in to_bea.text  # the excerpt and link as for any new post
    assert "https://hearth.test/" in to_bea.text
    # Cal, who only watches the thread, gets the usual subject for the same reply.
    subjects = [str(r.message["Subject"]) for r in smtp_sink.to("cal@example.com")]
    assert subjects == ["New reflection in “A first memory”"] * 2
    with app.app_context():
        raw = db.session.execute(
            select(OutboxMessage.raw_message).where(OutboxMessage.user_id == ids["bea"])
        ).scalar_one()
    assert read_message(raw).subject == str(to_bea.message["Subject"])
