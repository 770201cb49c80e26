"""``flask demo seed``: a demo that is alive on first look, and seeding twice adds nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func

from forum.accounts.models import Role, User
from forum.courses.models import Course, Module, Prompt
from forum.database import utcnow
from forum.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, read_sample_content, unwrap
from forum.extensions import db
from forum.threads.models import Post, PostStatus

ORIGINAL_ACCOUNTS = {
    "participant@example.com": Role.PARTICIPANT,
    "participant2@example.com": Role.PARTICIPANT,
    "facilitator@example.com": Role.FACILITATOR,
    "moderator@example.com": Role.MODERATOR,
    "admin@example.com": Role.ADMIN,
}


def _counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            model.__name__: db.session.scalar(db.select(func.count()).select_from(model))
            for model in (User, Course, Module, Prompt, Post)
        }


@pytest.fixture
def seeded(app, runner):
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    return result


def test_the_five_demo_logins_stay_as_documented(app, seeded):
    assert {email: role for email, _name, role in DEMO_ACCOUNTS} == ORIGINAL_ACCOUNTS
    assert DEMO_PASSWORD == "hearth-demo-password"
    with app.app_context():
        from forum.accounts.passwords import verify_password

        for email, role in ORIGINAL_ACCOUNTS.items():
            user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
            assert user.role == role and user.is_confirmed
            assert verify_password(user.password_hash, DEMO_PASSWORD)


def test_the_demo_has_conversations_across_modules(app, seeded):
    assert "sample post(s) written" in seeded.output
    with app.app_context():
        every_post = db.session.scalars(db.select(Post)).all()
        # The sample reflections; moderation's demo adds a few flagged and held posts.
        sample_keys = {sample.idempotency_key for sample in read_sample_content().posts}
        posts = [p for p in every_post if p.idempotency_key in sample_keys]
        assert len(posts) == len(read_sample_content().posts) >= 15
        assert all(p.status == PostStatus.VISIBLE for p in posts)

        authors = {p.author_id for p in posts}
        modules = {p.prompt.module_id for p in posts}
        prompts = {p.prompt_id for p in posts}
        assert len(authors) >= 4
        assert len(modules) >= 3
        assert len(prompts) >= 6

        replies = [p for p in posts if p.parent_id is not None]
        assert len(replies) >= 4
        assert all(r.created_at > r.parent.created_at for r in replies)
        assert all(r.prompt_id == r.parent.prompt_id for r in replies)
        quoting = [r for r in replies if "<blockquote>" in r.body_html]
        assert len(quoting) >= 2

        # Several new participants, not only the five logins.
        names = {p.author.email for p in posts}
        assert len(names - set(ORIGINAL_ACCOUNTS)) >= 3

        # Spread over the last days, not all "just now"; the thread counts agree.
        now = utcnow()
        ages = sorted(now - p.created_at for p in posts)
        assert ages[0] >= timedelta(hours=1)
        assert ages[-1] >= timedelta(days=5)
        assert all(p.published_at == p.created_at for p in posts)
        for prompt in db.session.scalars(db.select(Prompt)):
            visible = [
                p for p in every_post if p.prompt_id == prompt.id and p.status == PostStatus.VISIBLE
            ]
            assert prompt.post_count == len(visible)
            samples = [p for p in posts if p.prompt_id == prompt.id]
            if samples:
                assert prompt.last_post_at >= max(p.created_at for p in samples)


def test_seeding_twice_adds_nothing(app, runner, seeded):
    before = _counts(app)
    assert before["Post"] > 0
    again = runner.invoke(args=["demo", "seed"])
    assert again.exit_code == 0, again.output
    assert "0 demo account(s) created. 0 sample post(s) written." in again.output
    assert _counts(app) == before
    with app.app_context():
        visible = db.select(func.count(Post.id)).where(Post.status == PostStatus.VISIBLE)
        assert db.session.scalar(db.select(func.sum(Prompt.post_count))) == db.session.scalar(
            visible
        )


def test_the_course_and_the_compose_box_say_reflections_are_public(app, seeded, make_user, login):
    client = app.test_client()
    course_page = client.get("/c/learning-to-be-an-ally").get_data(as_text=True)
    assert "Your reflections in the discussion threads are public: anyone can read them" in (
        " ".join(course_page.split())
    )
    login(client, make_user())
    thread = client.get("/c/learning-to-be-an-ally/noticing/first-memory").get_data(as_text=True)
    assert "Reflections are public: anyone can read them." in thread
    assert "Sam (participant)" in thread and "Tom" in thread


def test_hard_wrapped_sample_text_is_unwrapped_like_typed_text():
    text = """
    First line
    continues here.

    > A quote
    - an item
      wrapped
    1. numbered
    """
    assert unwrap(text) == (
        "First line continues here.\n\n> A quote\n- an item wrapped\n1. numbered"
    )
