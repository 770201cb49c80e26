"""Moderation's outcomes by email, through the real worker and a real SMTP sink.

A held post is mailed to its thread's subscribers only once a moderator approves it; the
author is told the outcome and the reason; reporters are told whether action was taken,
and the author never learns who flagged.
"""

from __future__ import annotations

from forum.accounts.models import Role, User
from forum.extensions import db
from forum.threads.models import Post, PostStatus
from moderation import services
from moderation.models import ReviewItem
from tests.notifications.helpers import post_as, subscribe, work

SPAM = "Great thread! Cheap essays and link exchange: https://essays.example.com"


def _moderator(app) -> int:
    with app.app_context():
        user = User(
            email="riley@example.com",
            display_name="Riley",
            password_hash="!unusable",
            role=Role.MODERATOR,
        )
        db.session.add(user)
        db.session.commit()
        return user.id


def _item(post_id: int) -> ReviewItem:
    return db.session.execute(
        db.select(ReviewItem).where(ReviewItem.post_id == post_id)
    ).scalar_one()


def test_a_held_spam_post_is_mailed_only_after_approval(app, course, people, smtp_sink):
    ids = {k: u.id for k, u in people.items()}
    riley = _moderator(app)
    with app.app_context():
        subscribe([ids["bea"]], prompt_id=course.prompt_id)
        db.session.commit()
        # A brand-new account's early post with a link is held.
        post_id = post_as(ids["author"], course.prompt_id, SPAM)
        post = db.session.get(Post, post_id)
        assert post.status == PostStatus.HELD and post.published_at is None
    work(app)
    assert smtp_sink.to("bea@example.com") == []  # nothing before a moderator decides

    with app.app_context():
        item = _item(post_id)
        services.decide(
            db.session.get(User, riley), item, "keep", "Checked the link: it's fine", item.version
        )
        db.session.commit()
    work(app)
    new_post = smtp_sink.to("bea@example.com")
    assert len(new_post) == 1 and "Cheap essays" in new_post[0].text
    (outcome,) = smtp_sink.to("author@example.com")
    assert str(outcome.message["Subject"]) == "Your post is shown"
    for body in (outcome.text, outcome.html):
        assert "Checked the link: it's fine" in body or "Checked the link: it&#39;s fine" in body
        assert "now shown to everyone" in body


def test_author_and_reporters_are_told_without_naming_reporters(app, course, people, smtp_sink):
    ids = {k: u.id for k, u in people.items()}
    riley = _moderator(app)
    with app.app_context():
        post_id = post_as(ids["author"], course.prompt_id, "Words some readers object to.")
        post = db.session.get(Post, post_id)
        services.flag_post(db.session.get(User, ids["cal"]), post, "harassment")
        services.flag_post(db.session.get(User, ids["dee"]), post, "harassment")
        item = _item(post_id)
        services.decide(
            db.session.get(User, riley), item, "remove", "Dehumanising language", item.version
        )
        db.session.commit()
    work(app)
    (author_mail,) = smtp_sink.to("author@example.com")
    assert str(author_mail.message["Subject"]) == "Your post was removed by a moderator"
    for body in (author_mail.text, author_mail.html):
        assert "Dehumanising language" in body
        assert "appeal" in body
        assert "Cal" not in body and "Dee" not in body
    for reporter in ("cal@example.com", "dee@example.com"):
        (mail,) = smtp_sink.to(reporter)
        assert str(mail.message["Subject"]) == "Action was taken on a post you flagged"
        assert "Action was taken" in mail.text and "Action was taken" in mail.html
        assert "Ada Author" not in mail.text


def test_reporters_hear_no_action_and_sanctions_say_until_when(app, course, people, smtp_sink):
    ids = {k: u.id for k, u in people.items()}
    riley = _moderator(app)
    with app.app_context():
        post_id = post_as(ids["author"], course.prompt_id, "I'm angry about this injustice.")
        services.flag_post(
            db.session.get(User, ids["cal"]), db.session.get(Post, post_id), "other", "Too angry"
        )
        item = _item(post_id)
        moderator = db.session.get(User, riley)
        services.decide(moderator, item, "keep", "Anger is allowed", item.version)
        services.apply_sanction(
            moderator, db.session.get(User, ids["dee"]), "silence", "Insults", 2
        )
        db.session.commit()
    work(app)
    (mail,) = smtp_sink.to("cal@example.com")
    assert "No action was taken" in mail.text and "No action was taken" in mail.html
    (sanction,) = smtp_sink.to("dee@example.com")
    assert "can't post for now" in str(sanction.message["Subject"])
    assert "until" in sanction.text and "Insults" in sanction.text and "Insults" in sanction.html
