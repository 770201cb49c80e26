"""The daily digest: grouped by module and thread, one per user per day, safe to re-run."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from forum.accounts.models import User
from forum.database import utcnow
from forum.extensions import db
from forum.threads.models import Post
from notifications import services
from notifications.models import NotificationPreference
from notifications.worker import queue_digests
from tests.notifications.helpers import outbox, post_as, subscribe, work


def _backdate_posts(minutes: int = 30) -> None:
    db.session.execute(update(Post).values(created_at=utcnow() - timedelta(minutes=minutes)))
    db.session.commit()


def test_digest_groups_by_module_and_thread_and_running_twice_sends_one(
    app, course, people, smtp_sink, runner
):
    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        subscribe([ids["bea"]], prompt_id=course.prompt_id, mode="digest")
        subscribe([ids["bea"]], prompt_id=course.other_module_prompt_id, mode="digest")
        post_as(ids["author"], course.prompt_id, "Noticing one.")
        post_as(ids["author"], course.prompt_id, "Noticing two.")
        post_as(ids["author"], course.other_module_prompt_id, "Listening one.")
        post_as(ids["bea"], course.prompt_id, "Bea's own post is not in her digest.")
        _backdate_posts()
    work(app)
    assert smtp_sink.to("bea@example.com") == []  # digest mode: nothing immediate

    first = runner.invoke(args=["notifications", "digest"])
    second = runner.invoke(args=["notifications", "digest"])
    assert first.exit_code == 0 and "queued 1 digest" in first.output
    assert second.exit_code == 0 and "queued 0 digest" in second.output
    work(app)
    work(app)
    [mail] = smtp_sink.to("bea@example.com")
    text = mail.text
    assert str(mail.message["Subject"]) == "Your daily digest: 3 new reflections"
    assert text.index("Module 1: Noticing") < text.index("A first memory")
    assert text.index("A first memory") < text.index("Module 2: Listening")
    assert "Noticing one." in text and "Noticing two." in text and "Listening one." in text
    assert "Bea's own post" not in text
    assert "Unsubscribe from all discussion email" in text
    assert str(mail.message["List-Unsubscribe"]).startswith("<https://hearth.test/u/")
    [row] = outbox(app, user_id=ids["bea"])
    assert row.category == "digest" and row.dedupe_key.startswith(f"digest:{ids['bea']}:")


def test_digest_skips_when_nothing_is_new_and_respects_mutes_and_excerpts(
    app, course, people, smtp_sink
):
    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        # Cal reads everything as a digest: module watch, but one muted thread.
        services.update_preferences(db.session.get(User, ids["cal"]), "digest", False)
        subscribe([ids["cal"]], module_id=course.module_id)
        subscribe([ids["cal"]], prompt_id=course.other_prompt_id, mode="muted")
        db.session.commit()
        assert queue_digests() == 0  # nothing new yet
        post_as(ids["author"], course.prompt_id, "In the watched module.")
        post_as(ids["author"], course.other_prompt_id, "In the muted thread.")
        assert queue_digests() == 1
    work(app)
    [mail] = smtp_sink.to("cal@example.com")
    assert "A first memory" in mail.text
    assert "Who is in the room?" not in mail.text
    assert "In the watched module." not in mail.text  # excerpts off


def test_paused_user_gets_no_digest(app, course, people, smtp_sink):
    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        subscribe([ids["bea"]], prompt_id=course.prompt_id, mode="digest")
        services.pause_discussion_email(db.session.get(User, ids["bea"]), 2)
        db.session.commit()
        post_as(ids["author"], course.prompt_id, "Quiet please.")
        _backdate_posts()
        assert queue_digests() == 0


def test_a_held_post_approved_later_comes_in_the_next_digest(app, course, people, smtp_sink):
    """The digest goes by when readers could first see a post, not when it was written."""
    from forum.threads.models import PostStatus
    from forum.threads.services import change_post_status

    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        subscribe([ids["bea"]], prompt_id=course.prompt_id, mode="digest")
        post_id = post_as(ids["author"], course.prompt_id, "Held for review at first.")
        # Written two days ago and held (as a moderation rule would) until a moment ago.
        post = db.session.get(Post, post_id)
        post.status = PostStatus.HELD
        post.published_at = None
        post.created_at = utcnow() - timedelta(days=2)
        db.session.commit()
        change_post_status(None, db.session.get(Post, post_id), PostStatus.VISIBLE)
        # Bea's last digest was an hour ago, long after the post was written.
        services.update_preferences(db.session.get(User, ids["bea"]), "immediate", True)
        db.session.execute(
            update(NotificationPreference).values(last_digest_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()
        assert queue_digests() == 1
    work(app)
    [mail] = smtp_sink.to("bea@example.com")
    assert "Held for review at first." in mail.text
