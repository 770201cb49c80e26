"""A signed-in reader's thread page comes from a frame shared by readers of the same kind
(forum/threads/frames.py), with their own parts put in: their name, their CSRF token, a
fresh idempotency key, their own posts and their email setting. Never someone else's."""

from __future__ import annotations

import re

import pytest

from forum.accounts.models import Role, User
from forum.extensions import db
from forum.threads import services
from forum.threads.models import Post, PostStatus
from tests.conftest import make_test_app
from tests.query_count import statements
from tests.threads.conftest import THREAD, post_id_from, post_reflection, raw_html

KEY_RE = re.compile(r'name="idempotency_key" type="hidden" value="([^"]+)"')
CSRF_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


@pytest.fixture
def cache_url(tmp_path):
    return "sqlite:///" + str(tmp_path / "page-cache.sqlite3")


@pytest.fixture
def app_config(cache_url):
    return {"CACHE_URL": cache_url, "WTF_CSRF_ENABLED": True}


def _post(app, author_id: int, body: str, status: PostStatus = PostStatus.VISIBLE) -> int:
    with app.app_context():
        author = db.session.get(User, author_id)
        post, _created = services.create_post(author, _prompt(course_id=None), body)
        if status != PostStatus.VISIBLE:
            moderator = db.session.execute(
                db.select(User).where(User.role == Role.ADMIN)
            ).scalar_one()
            services.change_post_status(moderator, post, status)
        db.session.commit()
        return post.id


def _prompt(course_id=None):
    from forum.courses.services import find_prompt

    return find_prompt("allyship", "noticing", "first-memory")


@pytest.fixture
def people(app, course, make_user, login):
    admin = make_user(Role.ADMIN, name="Ada Admin")
    alice = make_user(Role.PARTICIPANT, name="Alice Author")
    bob = make_user(Role.PARTICIPANT, name="Bob <b>Reader</b>")
    clients = {}
    for name, user in (("alice", alice), ("bob", bob)):
        clients[name] = app.test_client()
        login(clients[name], user)
    return {
        "admin": admin,
        "alice": alice,
        "bob": bob,
        **{f"{k}_client": v for k, v in clients.items()},
    }


def test_each_reader_gets_their_own_name_posts_and_keys(app, people):
    alice, bob = people["alice"], people["bob"]
    _post(app, alice.id, "Alice writes first.")
    _post(app, bob.id, "Bob answers.")

    alice_page = raw_html(people["alice_client"].get(THREAD))
    bob_page = raw_html(people["bob_client"].get(THREAD))  # the same frame, filled for Bob

    # Each one's name in the header, escaped, and never the other's.
    assert 'nav-user"><span class="visually-hidden">Logged in as </span>Alice Author' in alice_page
    assert "Logged in as </span>Bob &lt;b&gt;Reader&lt;/b&gt;" in bob_page
    assert "Logged in as </span>Alice" not in bob_page
    # Edit links on one's own post only; a flag link on the other's.
    for page, own, other in ((alice_page, alice, bob), (bob_page, bob, alice)):
        own_id = _post_id_by(app, own.id)
        other_id = _post_id_by(app, other.id)
        assert f"/posts/{own_id}/edit" in page and f"/posts/{other_id}/edit" not in page
        assert f"/posts/{other_id}/flag" in page and f"/posts/{own_id}/flag" not in page
    # No mark is left anywhere, and every key is fresh.
    for page in (alice_page, bob_page):
        assert "\x00" not in page
    keys = {KEY_RE.search(page).group(1) for page in (alice_page, bob_page)}
    keys.add(KEY_RE.search(raw_html(people["alice_client"].get(THREAD))).group(1))
    assert len(keys) == 3


def _post_id_by(app, author_id: int) -> int:
    with app.app_context():
        return db.session.execute(
            db.select(Post.id).where(Post.author_id == author_id)
        ).scalar_one()


def test_the_csrf_token_in_a_framed_page_is_the_readers_own(app, people):
    _post(app, people["alice"].id, "Something to read.")
    people["alice_client"].get(THREAD)  # the frame is made for Alice's kind of reader
    page = raw_html(people["bob_client"].get(THREAD))
    token = CSRF_RE.search(page).group(1)
    key = KEY_RE.search(page).group(1)
    response = people["bob_client"].post(
        THREAD + "/posts",
        data={"body": "Posted from a framed page.", "csrf_token": token, "idempotency_key": key},
    )
    assert response.status_code == 303, raw_html(response)[:500]
    # Alice's token is not Bob's.
    alice_token = CSRF_RE.search(raw_html(people["alice_client"].get(THREAD))).group(1)
    refused = people["bob_client"].post(
        THREAD + "/posts", data={"body": "Forged.", "csrf_token": alice_token}
    )
    assert refused.status_code == 400


def test_a_held_post_is_shown_to_its_author_alone(app, people):
    _post(app, people["bob"].id, "Visible words.")
    people["bob_client"].get(THREAD)  # the frame exists before the held post
    _post(app, people["alice"].id, "Waiting for a moderator.", PostStatus.HELD)
    alice_page = raw_html(people["alice_client"].get(THREAD))
    bob_page = raw_html(people["bob_client"].get(THREAD))
    assert "Waiting for a moderator." in alice_page
    assert "Only you can see this while a moderator reviews it." in alice_page
    assert "Waiting for a moderator." not in bob_page
    assert "Visible words." in alice_page and "Visible words." in bob_page


def test_each_reader_sees_their_own_email_setting(app, people):
    # Posting subscribes Alice to the thread; Bob has no subscription.
    post_id_from(post_reflection(_with_token(people["alice_client"]), "Subscribed by posting."))
    alice_page = raw_html(people["alice_client"].get(THREAD))
    bob_page = raw_html(people["bob_client"].get(THREAD))
    assert '<option value="watching" selected>' in alice_page
    assert '<option value="none" selected>' in bob_page
    assert '<option value="watching" selected>' not in bob_page


def _with_token(client):
    """``client`` whose POSTs carry the CSRF token of the thread page it reads."""

    class _Client:
        def post(self, url, data):
            token = CSRF_RE.search(raw_html(client.get(THREAD))).group(1)
            return client.post(url, data={**data, "csrf_token": token})

    return _Client()


def test_a_warm_framed_page_runs_three_statements(app, people):
    _post(app, people["alice"].id, "One post.")
    client = people["bob_client"]
    client.get(THREAD)
    with statements(app) as seen:
        client.get(THREAD)
    # The person, the thread's versions with their email setting, their own posts here.
    assert len(seen) == 3, seen


def test_a_change_in_one_worker_reaches_a_framed_reader_in_another(
    app, people, database_url, cache_url
):
    other_worker = make_test_app(database_url, CACHE_URL=cache_url, WTF_CSRF_ENABLED=True)
    bob_there = other_worker.test_client()
    with bob_there.session_transaction() as session:
        session["_user_id"] = people["bob"].get_id()
        session["_fresh"] = True
    assert "No one has written here yet" in raw_html(bob_there.get(THREAD))
    post_id = _post(app, people["alice"].id, "News from the first worker.")
    assert "News from the first worker." in raw_html(bob_there.get(THREAD))

    with app.app_context():
        admin = db.session.get(User, people["admin"].id)
        services.change_post_status(admin, db.session.get(Post, post_id), PostStatus.HIDDEN)
        db.session.commit()
    page = raw_html(bob_there.get(THREAD))
    assert "News from the first worker." not in page
    assert "hidden while a moderator looks at it" in page


def test_a_flashed_message_is_shown_once_on_a_full_page(app, people):
    client = people["bob_client"]
    client.get(THREAD)
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "Only for Bob, once.")]
    assert "Only for Bob, once." in raw_html(client.get(THREAD))
    assert "Only for Bob, once." not in raw_html(client.get(THREAD))


def _normalized(page: str) -> str:
    # Per request by design: the CSRF token (signed with a time) and the idempotency key.
    return KEY_RE.sub("KEY", CSRF_RE.sub("CSRF", page))


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_a_framed_page_is_the_page_a_full_rendering_gives(app, people, who, monkeypatch):
    alice_id = _post(app, people["alice"].id, "Alice writes.")
    _post(app, people["bob"].id, "Bob writes.", PostStatus.HELD)
    with app.app_context():
        reply_author = db.session.get(User, people["bob"].id)
        parent = db.session.get(Post, alice_id)
        services.create_post(reply_author, parent.prompt, "Bob replies.", parent=parent)
        db.session.commit()
    client = people[f"{who}_client"]
    client.get(THREAD)
    framed = raw_html(client.get(THREAD))
    from forum.threads import frames

    monkeypatch.setattr(frames, "frame_reader_ok", lambda _user: False)
    full = raw_html(client.get(THREAD))
    assert _normalized(framed) == _normalized(full)
