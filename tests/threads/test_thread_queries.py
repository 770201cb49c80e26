"""A thread page runs a fixed number of statements, whatever the number of posts or authors,
and no GET writes anything."""

from __future__ import annotations

import pytest

from forum.accounts.models import Role, User
from forum.courses.models import Prompt
from forum.database import utcnow
from forum.extensions import db
from forum.threads.models import Post, PostStatus
from tests.query_count import statements, writes
from tests.threads.conftest import THREAD


@pytest.fixture
def app_config():
    return {"POSTS_PER_PAGE": 50}


def _fill_thread(app, prompt_id: int, authors: int) -> None:
    """``authors`` new people each write one post; every other post replies to the one before."""
    with app.app_context():
        first = db.session.execute(db.select(db.func.count(User.id))).scalar_one()
        now = utcnow()
        people = [
            User(
                email=f"writer{n}@example.com",
                display_name=f"Writer {n}",
                password_hash="x",
                role=Role.PARTICIPANT,
                session_token=f"{n:032d}",
                email_confirmed_at=now,
            )
            for n in range(first, first + authors)
        ]
        db.session.add_all(people)
        db.session.flush()
        previous = None
        for n, person in enumerate(people):
            post = Post(
                prompt_id=prompt_id,
                author_id=person.id,
                parent_id=previous.id if previous is not None and n % 2 else None,
                status=PostStatus.VISIBLE,
                created_at=now,
                published_at=now,
            )
            post.set_body(f"Reflection by {person.display_name}, with *emphasis*.")
            db.session.add(post)
            db.session.flush()
            previous = post
        db.session.get(Prompt, prompt_id).post_count = authors
        db.session.commit()


def db_names(app) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(
                db.select(User.display_name).where(User.email.like("writer%")).order_by(User.id)
            ).scalars()
        )


def _count(app, client, path: str) -> tuple[int, list[str]]:
    with statements(app) as seen:
        response = client.get(path)
    assert response.status_code == 200
    return len(seen), seen


@pytest.mark.parametrize("who", ["reader", "participant"])
def test_the_thread_page_runs_the_same_statements_for_10_and_50_authors(
    app, course, who, make_user, login
):
    client = app.test_client()
    if who == "participant":
        login(client, make_user(Role.PARTICIPANT))
    _fill_thread(app, course.prompt_id, 10)
    small, _ = _count(app, client, THREAD)
    _fill_thread(app, course.other_prompt_id, 50)
    large, seen = _count(app, client, "/c/allyship/noticing/the-room")
    page = client.get("/c/allyship/noticing/the-room").get_data(as_text=True)
    assert page.count('class="post post--visible"') == 50
    last = db_names(app)[-1]
    assert f"Reflection by {last}" in page and f"In reply to {db_names(app)[-2]}" in page
    assert small == large, seen
    # The fixed number: the prompt with its module and course, the posts with their authors,
    # the count, the thread's lock; a signed-in reader also costs the person and their email
    # subscription state (thread, then module).
    assert large <= (4 if who == "reader" else 7), seen


GET_PAGES = [
    "/",
    "/c/allyship",
    "/c/allyship/noticing",
    THREAD,
    THREAD + "/posts",
    "/account/settings",
    "/account/login",
    "/account/signup",
    "/notifications/preferences",
]


def test_no_get_writes_anything(app, course, make_user, login):
    client = app.test_client()
    login(client, make_user(Role.ADMIN))
    _fill_thread(app, course.prompt_id, 3)
    with statements(app) as seen:
        for path in [*GET_PAGES, "/account/admin/users", "/posts/1", "/posts/2/edit"]:
            response = client.get(path)
            assert response.status_code in (200, 302, 303, 403), (path, response.status_code)
    assert seen, "the pages ran no statements at all: the counter is not counting"
    assert writes(seen) == []
