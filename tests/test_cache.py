"""The page cache is never stale: a change made through one worker (one app) is what the
next anonymous reader of ANY worker (another app on the same database and cache) sees."""

from __future__ import annotations

import pytest

from forum.accounts.models import Role, User
from forum.extensions import db
from forum.threads import services
from forum.threads.models import Post, PostStatus
from tests.conftest import make_test_app
from tests.threads import conftest as thread_fixtures
from tests.threads.conftest import THREAD, post_id_from, post_reflection

# The thread suite's fixtures: a small course, Alice and her logged-in client.
course = thread_fixtures.course
alice = thread_fixtures.alice
alice_client = thread_fixtures.alice_client

MODULE = "/c/allyship/noticing"
COURSE = "/c/allyship"


@pytest.fixture
def cache_url(tmp_path):
    return "sqlite:///" + str(tmp_path / "page-cache.sqlite3")


@pytest.fixture
def app_config(cache_url):
    return {"CACHE_URL": cache_url}


@pytest.fixture
def other_worker(database_url, cache_url):
    """A second app (another gunicorn worker): same database, same cache store."""
    return make_test_app(database_url, CACHE_URL=cache_url)


def _read(app, path: str = THREAD):
    response = app.test_client().get(path)
    assert response.status_code == 200
    return response


def _text(response) -> str:
    return response.get_data(as_text=True)


def _moderator(app) -> int:
    with app.app_context():
        user = User(
            email="mod@example.com",
            display_name="Mo Derator",
            password_hash="x",
            role=Role.MODERATOR,
            session_token="m" * 32,
        )
        db.session.add(user)
        db.session.commit()
        return user.id


def test_a_change_through_one_worker_is_read_by_every_other(
    app, other_worker, course, alice_client
):
    # Both workers cache the thread, the module and the course before anything is written.
    for path in (THREAD, MODULE, COURSE):
        first = _read(other_worker, path)
        assert first.headers["X-Hearth-Cache"] == "miss"
        assert _read(other_worker, path).headers["X-Hearth-Cache"] == "hit"
        _read(app, path)
    assert "No one has written here yet" in _text(_read(other_worker))

    post_id = post_id_from(post_reflection(alice_client, "A new reflection, *posted*."))
    page = _text(_read(other_worker))
    assert "A new reflection, <em>posted</em>." in page
    assert "1 reflection" in _text(_read(other_worker, MODULE))

    response = alice_client.post(f"/posts/{post_id}/edit", data={"body": "Edited words."})
    assert response.status_code == 303
    page = _text(_read(other_worker))
    assert "Edited words." in page and "posted</em>" not in page

    with app.app_context():
        moderator_id = _moderator(app)
        moderator = db.session.get(User, moderator_id)
        services.change_post_status(moderator, db.session.get(Post, post_id), PostStatus.HIDDEN)
        db.session.commit()
    page = _text(_read(other_worker))
    assert "hidden while a moderator looks at it" in page and "Edited words." not in page

    with app.app_context():
        moderator = db.session.get(User, moderator_id)
        services.change_post_status(moderator, db.session.get(Post, post_id), PostStatus.VISIBLE)
        db.session.commit()
    assert "Edited words." in _text(_read(other_worker))

    assert alice_client.post(f"/posts/{post_id}/delete").status_code == 303
    page = _text(_read(other_worker))
    assert "deleted by its author" in page and "Edited words." not in page


def test_a_new_name_a_lock_and_a_course_import_reach_cached_pages(
    app, other_worker, course, alice, alice_client
):
    post_reflection(alice_client, "Hello there.")
    assert "Alice Author" in _text(_read(other_worker))

    with app.app_context():
        from forum.accounts.services import change_display_name

        change_display_name(db.session.get(User, alice.id), "Alice Renamed")
        db.session.commit()
    page = _text(_read(other_worker))
    assert "Alice Renamed" in page and "Alice Author" not in page

    with app.app_context():
        from forum.courses.models import Prompt
        from moderation.services import lock_thread

        moderator = db.session.get(User, _moderator(app))
        lock_thread(moderator, db.session.get(Prompt, course.prompt_id), "Cooling off")
        db.session.commit()
    assert "moderation-locked" in _text(_read(other_worker))

    with app.app_context():
        from forum.courses.services import import_course
        from tests.course_data import SMALL_COURSE

        changed = dict(SMALL_COURSE, title="Allyship, renamed")
        import_course(changed)
        db.session.commit()
    for path in (THREAD, MODULE, COURSE):
        assert "Allyship, renamed" in _text(_read(other_worker, path)), path


def test_times_are_fresh_and_etags_answer_304(app, course, alice_client):
    post_reflection(alice_client, "Timely.")
    response = _read(app)
    assert "just now" in _text(response) and "\x00" not in _text(response)
    etag = response.headers["ETag"]
    again = app.test_client().get(THREAD, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["X-Hearth-Cache"] == "hit"


def test_personal_pages_are_never_cached_or_served_from_the_cache(app, course, alice_client):
    post_reflection(alice_client, "Mine.")
    _read(app)  # the anonymous page is now cached
    page = alice_client.get(THREAD)
    assert "X-Hearth-Cache" not in page.headers
    assert "Log out" in _text(page) and "/edit" in _text(page)

    reader = app.test_client()
    with reader.session_transaction() as session:
        session["_flashes"] = [("info", "A message only for this reader.")]
    flashed = reader.get(THREAD)
    assert "X-Hearth-Cache" not in flashed.headers
    assert "A message only for this reader." in _text(flashed)
    assert "A message only for this reader." not in _text(_read(app))

    # Odd query strings get a fresh page, never a cache entry of their own.
    assert "X-Hearth-Cache" not in app.test_client().get(THREAD + "?utm=x").headers


def test_a_cache_that_is_down_is_a_miss_never_an_error(database_url, course):
    down = make_test_app(database_url, CACHE_URL="redis://127.0.0.1:1/0")
    for _ in range(2):
        response = down.test_client().get(THREAD)
        assert response.status_code == 200
        assert "A first memory" in _text(response)


def test_a_broken_cache_file_is_a_miss(database_url, course, tmp_path):
    (tmp_path / "not-a-database").write_bytes(b"this is not SQLite" * 100)
    broken = make_test_app(database_url, CACHE_URL="sqlite:///" + str(tmp_path / "not-a-database"))
    assert _read(broken).status_code == 200
