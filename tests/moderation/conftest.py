"""Fixtures for moderation: a small course, an author, three readers, two moderators."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from forum.accounts.models import Role, User
from forum.courses.models import Prompt
from forum.courses.services import import_course
from forum.extensions import db
from forum.threads.models import Post
from forum.threads.services import create_post
from moderation.models import ReviewItem
from tests.course_data import SMALL_COURSE

THREAD = "/c/allyship/noticing/first-memory"
OTHER_THREAD = "/c/allyship/noticing/the-room"


@dataclass
class World:
    prompt_id: int
    other_prompt_id: int
    author: User
    readers: list[User]
    riley: User
    sam: User
    admin: User


@pytest.fixture
def world(app, make_user) -> World:
    with app.app_context():
        import_course(SMALL_COURSE)
        db.session.commit()
        prompts = {p.slug: p.id for p in db.session.execute(db.select(Prompt)).scalars()}
    return World(
        prompt_id=prompts["first-memory"],
        other_prompt_id=prompts["the-room"],
        author=make_user(Role.PARTICIPANT, email="author@example.com", name="Ada Author"),
        readers=[
            make_user(Role.PARTICIPANT, email=f"reader{n}@example.com", name=f"Reader {n}")
            for n in range(1, 4)
        ],
        riley=make_user(Role.MODERATOR, email="riley@example.com", name="Riley"),
        sam=make_user(Role.MODERATOR, email="sam@example.com", name="Sam"),
        admin=make_user(Role.ADMIN, email="admin@example.com", name="Morgan"),
    )


def user(user_or_id) -> User:
    """The user row in the current session."""
    uid = user_or_id if isinstance(user_or_id, int) else user_or_id.id
    found = db.session.get(User, uid)
    assert found is not None
    return found


def write(author, prompt_id: int, body: str) -> Post:
    """A post by ``author`` through the core's service (needs an app context); flushes."""
    post, created = create_post(user(author), db.session.get(Prompt, prompt_id), body)
    assert created
    return post


def item_of(post: Post) -> ReviewItem:
    found = db.session.execute(
        db.select(ReviewItem).where(ReviewItem.post_id == post.id)
    ).scalar_one()
    return found


@pytest.fixture
def client_for(app, login):
    """A test client logged in as ``user``."""

    def _client(account):
        client = app.test_client()
        login(client, account)
        return client

    return _client
