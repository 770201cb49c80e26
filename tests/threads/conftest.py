"""Fixtures for the thread pages: a small course, two participants, helpers to post."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest

from forum.accounts.models import Role, User
from forum.courses.models import Prompt
from forum.courses.services import import_course
from forum.database import utcnow
from forum.extensions import db
from forum.threads.models import Post
from tests.course_data import SMALL_COURSE

COURSE = SMALL_COURSE
THREAD = "/c/allyship/noticing/first-memory"
OTHER_THREAD = "/c/allyship/noticing/the-room"
KEY = "double-click-key-0123456789"


@dataclass
class Seeded:
    prompt_id: int
    other_prompt_id: int


@pytest.fixture
def course(app):
    with app.app_context():
        import_course(COURSE)
        db.session.commit()
        prompts = {p.slug: p.id for p in db.session.execute(db.select(Prompt)).scalars()}
    return Seeded(prompt_id=prompts["first-memory"], other_prompt_id=prompts["the-room"])


@pytest.fixture
def alice(make_user):
    return make_user(Role.PARTICIPANT, email="alice@example.com", name="Alice Author")


@pytest.fixture
def bob(make_user):
    return make_user(Role.PARTICIPANT, email="bob@example.com", name="Bob Reader")


@pytest.fixture
def alice_client(app, alice, login):
    client = app.test_client()
    login(client, alice)
    return client


@pytest.fixture
def bob_client(app, bob, login):
    client = app.test_client()
    login(client, bob)
    return client


def post_reflection(client, body: str, key: str | None = KEY, thread: str = THREAD):
    data = {"body": body}
    if key is not None:
        data["idempotency_key"] = key
    return client.post(thread + "/posts", data=data)


def post_id_from(response) -> int:
    """The id of the post a successful submit redirected to."""
    assert response.status_code == 303, response.status_code
    match = re.fullmatch(r"/posts/(\d+)", urlsplit(response.headers["Location"]).path)
    assert match, response.headers["Location"]
    return int(match.group(1))


def all_posts(app) -> list[Post]:
    with app.app_context():
        posts = list(db.session.execute(db.select(Post).order_by(Post.id)).scalars())
        db.session.expunge_all()
        return posts


def prompt_row(app, prompt_id: int) -> Prompt:
    with app.app_context():
        prompt = db.session.get(Prompt, prompt_id)
        db.session.expunge(prompt)
        return prompt


def login_redirect_next(response) -> str | None:
    """Assert ``response`` sends the reader to log in; return the ``next`` it carries."""
    assert response.status_code in (302, 303), response.status_code
    location = urlsplit(response.headers["Location"])
    assert location.path == "/account/login"
    assert not location.netloc or location.netloc == "localhost"
    next_urls = parse_qs(location.query).get("next")
    if next_urls is None:
        return None
    (next_url,) = next_urls
    assert next_url.startswith("/") and not next_url.startswith("//")
    return next_url


def raw_html(response) -> str:
    return response.get_data(as_text=True)


def page_text(response) -> str:
    """The page with character references resolved, for checking the words people read."""
    return html.unescape(raw_html(response))


def add_participants(prefix: str, count: int) -> list[User]:
    """``count`` new confirmed participants (``{prefix}{n}@example.com``), flushed; call
    within an app context."""
    first = db.session.execute(db.select(db.func.count(User.id))).scalar_one()
    now = utcnow()
    people = [
        User(
            email=f"{prefix}{n}@example.com",
            display_name=f"{prefix.capitalize()} {n}",
            password_hash="x",
            role=Role.PARTICIPANT,
            session_token=f"{n:032d}",
            email_confirmed_at=now,
        )
        for n in range(first, first + count)
    ]
    db.session.add_all(people)
    db.session.flush()
    return people
