"""The front cache (forum/front_cache.py) replays an anonymous reader's finished page
before Flask runs: the same response Flask gave, only while the page's data versions
hold, and never for anyone with a session."""

from __future__ import annotations

import sqlite3

import pytest

from forum.extensions import db
from tests.threads import conftest as thread_fixtures
from tests.threads.conftest import THREAD, post_reflection

course = thread_fixtures.course
alice = thread_fixtures.alice
alice_client = thread_fixtures.alice_client

MODULE = "/c/allyship/noticing"
COURSE = "/c/allyship"
# Headers that differ between two answers by nature, not by content.
VOLATILE = {"date", "x-hearth-cache"}


@pytest.fixture
def app_config(tmp_path):
    # A store shared like the workers' (the default in tests is this process's memory).
    return {"CACHE_URL": "sqlite:///" + str(tmp_path / "page-cache.sqlite3")}


def _headers(response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower() not in VOLATILE}


@pytest.mark.parametrize("path", [THREAD, MODULE, COURSE])
def test_a_replayed_page_is_the_response_flask_gave(app, course, path):
    reader = app.test_client()
    first = reader.get(path)
    second = reader.get(path)
    assert first.status_code == second.status_code == 200
    assert first.headers["X-Hearth-Cache"] == "miss"
    assert second.headers["X-Hearth-Cache"] == "hit"
    assert second.get_data() == first.get_data()
    assert _headers(second) == _headers(first)
    # The security headers come with the replay, and the internal mark never leaves.
    assert "default-src 'self'" in second.headers["Content-Security-Policy"]
    assert int(second.headers["Content-Length"]) == len(second.get_data())
    for response in (first, second):
        assert "X-Hearth-Shareable" not in response.headers


def test_a_replay_runs_one_statement_and_no_view(app, course):
    from tests.query_count import statements

    reader = app.test_client()
    reader.get(THREAD)
    with statements(app) as seen:
        replayed = reader.get(THREAD)
    assert replayed.headers["X-Hearth-Cache"] == "hit"
    assert len(seen) == 1 and "prompts" in seen[0], seen  # the thread's data versions


def test_head_and_if_none_match_are_answered_from_the_replay(app, course):
    reader = app.test_client()
    etag = reader.get(THREAD).headers["ETag"]
    head = reader.head(THREAD)
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["ETag"] == etag
    again = reader.get(THREAD, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    other = reader.get(THREAD, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and b"A first memory" in other.get_data()


def test_a_new_post_is_seen_at_once_by_a_replaying_reader(app, course, alice_client):
    reader = app.test_client()
    reader.get(THREAD)
    assert reader.get(THREAD).headers["X-Hearth-Cache"] == "hit"
    post_reflection(alice_client, "Written after the page was kept.")
    fresh = reader.get(THREAD)
    assert fresh.headers["X-Hearth-Cache"] == "miss"
    assert "Written after the page was kept." in fresh.get_data(as_text=True)


def test_a_session_cookie_is_never_answered_from_the_replay(app, course, alice_client):
    app.test_client().get(THREAD)  # kept for anonymous readers
    page = alice_client.get(THREAD)
    assert "X-Hearth-Cache" not in page.headers
    assert "Alice Author" in page.get_data(as_text=True)
    assert "Log out" in page.get_data(as_text=True)


def test_requiring_a_login_to_read_stops_the_replay_at_once(app, course):
    reader = app.test_client()
    reader.get(THREAD)
    assert reader.get(THREAD).headers["X-Hearth-Cache"] == "hit"
    app.config["READ_REQUIRES_LOGIN"] = True
    refused = reader.get(THREAD)
    assert refused.status_code in (302, 303)
    assert "/account/login" in refused.headers["Location"]


@pytest.mark.parametrize(
    "path",
    [
        THREAD + "?page=1",  # not the page's own address
        THREAD + "?page=9",  # no such page
        "/c/allyship/noticing/no-such-thread",
        "/c/allyship/no-such-module",
    ],
)
def test_only_the_pages_own_addresses_are_kept(app, course, path):
    reader = app.test_client()
    for _ in range(2):
        response = reader.get(path)
        assert response.headers.get("X-Hearth-Cache") != "hit", path


def test_a_failed_version_read_lets_flask_answer(app, course):
    reader = app.test_client()
    reader.get(THREAD)
    front = app.extensions["hearth_front_cache"]
    broken = sqlite3.connect(":memory:")
    broken.close()  # any statement on it raises
    front.versions._local.conn = broken
    front.versions._local.pid = __import__("os").getpid()
    response = reader.get(THREAD)
    assert response.status_code == 200
    assert b"A first memory" in response.get_data()


def test_the_replay_reads_committed_data_only(app, course, alice_client):
    reader = app.test_client()
    reader.get(THREAD)
    with app.app_context():
        # A change still in a transaction is not what the next reader gets.
        from forum.threads.services import touch_thread

        touch_thread(course.prompt_id)
        assert reader.get(THREAD).headers["X-Hearth-Cache"] == "hit"
        db.session.rollback()
    assert reader.get(THREAD).headers["X-Hearth-Cache"] == "hit"
