"""Creating a post costs a fixed number of statements, whatever the size of the thread, the
number of its subscribers or what the author wrote before; the body is rendered before the
request's first statement (on SQLite: before BEGIN IMMEDIATE takes the write lock), and
nothing is read back after the commit."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import event

from forum.accounts.models import Role, User
from forum.courses.models import Prompt
from forum.database import utcnow
from forum.extensions import db
from forum.threads import services as thread_services
from forum.threads.models import Post, PostStatus
from forum.threads.services import change_post_status, create_post
from moderation import services as moderation
from moderation.models import ReviewItem
from notifications.models import NotificationEvent, Subscription, SubscriptionMode
from tests.query_count import statements, writes
from tests.threads.conftest import OTHER_THREAD, THREAD, add_participants, post_id_from

# The person; the thread's lock with the watched words and the author's recent posts in
# other threads (moderation's checks and holds); the prompt with its module and course;
# INSERT the post; the author's subscription; the thread's counts and version; the
# new-post event.
POST_STATEMENTS = 7
POST_WRITES = 4  # the post, the subscription, the thread's counts, the event


def _key() -> str:
    return secrets.token_urlsafe(24)


def _fill(app, prompt_id: int, count: int, author_id: int) -> None:
    """``count`` new people each post once in the thread and watch it; ``author_id`` also
    wrote ``count`` posts there before."""
    with app.app_context():
        now = utcnow()
        people = add_participants("filler", count)
        for n, writer_id in enumerate([p.id for p in people] + [author_id] * count):
            post = Post(
                prompt_id=prompt_id,
                author_id=writer_id,
                status=PostStatus.VISIBLE,
                created_at=now,
                published_at=now,
            )
            post.set_body(f"Earlier reflection number {n}, long enough to be compared.")
            db.session.add(post)
        db.session.add_all(
            Subscription(user_id=p.id, prompt_id=prompt_id, mode=SubscriptionMode.WATCHING)
            for p in people
        )
        db.session.get(Prompt, prompt_id).post_count += 2 * count
        db.session.commit()


def _post(app, client, thread: str, body: str) -> list[str]:
    with statements(app) as seen:
        response = client.post(thread + "/posts", data={"body": body, "idempotency_key": _key()})
    post_id_from(response)
    return seen


def _one_line(statements_seen: list[str]) -> str:
    return "\n".join(s[:110].replace("\n", " ") for s in statements_seen)


def test_creating_a_post_runs_the_same_statements_for_10_and_200(app, course, alice, alice_client):
    # Warm up: the first request of an app builds what later ones reuse.
    _post(app, alice_client, OTHER_THREAD, "A first reflection, to warm the app up.")
    _fill(app, course.prompt_id, 10, alice.id)
    small = _post(app, alice_client, THREAD, "A reflection in a thread of some twenty posts.")
    _fill(app, course.other_prompt_id, 200, alice.id)
    large = _post(app, alice_client, OTHER_THREAD, "A reflection in a thread of four hundred.")
    assert len(small) <= POST_STATEMENTS, _one_line(small)
    assert small == large, _one_line(large)
    assert len(writes(small)) == POST_WRITES, _one_line(writes(small))
    with app.app_context():
        posts = db.session.execute(
            db.select(Post).where(Post.author_id == alice.id).order_by(Post.id.desc()).limit(2)
        ).scalars()
        assert all(p.status == PostStatus.VISIBLE and p.published_at for p in posts)
        assert db.session.get(Prompt, course.other_prompt_id).post_count == 402
        assert db.session.execute(db.select(db.func.count(NotificationEvent.id))).scalar_one() == 3


def test_a_held_post_runs_a_fixed_number_of_statements_too(
    app, course, alice, alice_client, make_user
):
    with app.app_context():
        moderation.add_watched_word(make_user(Role.MODERATOR), "essay mill", "hold")
        db.session.commit()
    _post(app, alice_client, OTHER_THREAD, "A first reflection, to warm the app up.")
    counts = []
    for size in (10, 200):
        _fill(app, course.prompt_id, size, alice.id)
        seen = _post(app, alice_client, THREAD, f"Try the essay mill, {size} times over")
        counts.append(seen)
    assert counts[0] == counts[1], _one_line(counts[1])
    with app.app_context():
        held = db.session.execute(
            db.select(Post).where(Post.status == PostStatus.HELD).order_by(Post.id)
        ).scalars()
        assert [(p.published_at, p.prompt_id) for p in held] == [(None, course.prompt_id)] * 2
        items = db.session.execute(db.select(ReviewItem.hold_rule)).scalars().all()
        assert items == ["watched_word", "watched_word"]
        # Held posts aren't counted, and nothing is told to subscribers.
        assert db.session.get(Prompt, course.prompt_id).post_count == 2 * 10 + 2 * 200
        assert db.session.execute(db.select(NotificationEvent.subject_id)).scalars().all() == [
            min(p for p in _post_ids(alice.id))
        ]


def _post_ids(author_id: int) -> list[int]:
    return list(db.session.execute(db.select(Post.id).where(Post.author_id == author_id)).scalars())


def test_the_body_is_rendered_before_the_first_statement(app, course, alice_client, monkeypatch):
    happened: list[str] = []
    render = thread_services.render_markdown

    def _render(source):
        happened.append("render")
        return render(source)

    def _begin(_conn):
        happened.append("begin")

    def _statement(_conn, _cursor, statement, *_args):
        happened.append(statement.split(None, 1)[0].upper())

    def _commit(_conn):
        happened.append("commit")

    monkeypatch.setattr(thread_services, "render_markdown", _render)
    with app.app_context():
        engine = db.engine
    listeners = [("begin", _begin), ("before_cursor_execute", _statement), ("commit", _commit)]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        response = alice_client.post(
            THREAD + "/posts", data={"body": "Some *careful* words", "idempotency_key": _key()}
        )
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
    post_id = post_id_from(response)
    # Rendered once, before the transaction began and before any statement (on SQLite the
    # first is BEGIN IMMEDIATE: the write lock).
    assert happened[0] == "render" and happened.count("render") == 1, happened
    assert "begin" in happened and "SELECT" in happened and "INSERT" in happened, happened
    # One transaction, committed last: the post isn't read back afterwards.
    assert happened.count("begin") == 1 and happened[-1] == "commit", happened
    with app.app_context():
        assert db.session.get(Post, post_id).body_html == "<p>Some <em>careful</em> words</p>\n"


def test_a_repeated_form_gives_the_first_post_and_writes_nothing(app, course, alice_client):
    data = {"body": "Only once, please", "idempotency_key": _key()}
    first = post_id_from(alice_client.post(THREAD + "/posts", data=data))
    with statements(app) as seen:
        again = post_id_from(alice_client.post(THREAD + "/posts", data=data))
    assert again == first
    # The INSERT ... ON CONFLICT DO NOTHING is the only write tried, and it wrote nothing.
    assert [s.split()[0:3] for s in writes(seen)] == [["INSERT", "INTO", "posts"]]
    with app.app_context():
        assert db.session.get(Prompt, course.prompt_id).post_count == 1
        assert db.session.execute(db.select(db.func.count(Post.id))).scalar_one() == 1
        assert db.session.execute(db.select(db.func.count(NotificationEvent.id))).scalar_one() == 1


def test_a_repeated_reply_whose_parent_was_hidden_meanwhile_gives_the_first(
    app, course, alice, make_user
):
    with app.app_context():
        author = db.session.get(User, alice.id)
        prompt = db.session.get(Prompt, course.prompt_id)
        parent, _ = create_post(author, prompt, "The post replied to")
        key = _key()
        reply, created = create_post(author, prompt, "A reply", parent=parent, idempotency_key=key)
        assert created
        change_post_status(make_user(Role.MODERATOR), parent, PostStatus.HIDDEN, "Off topic")
        again, created = create_post(author, prompt, "A reply", parent=parent, idempotency_key=key)
        assert (again.id, created) == (reply.id, False)
        with pytest.raises(thread_services.PostError, match="no longer available"):
            create_post(author, prompt, "A reply", parent=parent, idempotency_key=_key())


def test_the_post_object_is_the_row(app, course, alice):
    """create_post builds the post from the values it inserted: nothing left to flush, and
    every attribute what the database holds."""
    with app.app_context():
        author = db.session.get(User, alice.id)
        prompt = db.session.get(Prompt, course.prompt_id)
        version = prompt.version
        post, created = create_post(author, prompt, "Plain *words*", idempotency_key=_key())
        assert created and post in db.session and not db.session.dirty and not db.session.new
        assert post.prompt is prompt and post.author is author and post.parent is None
        # The counters were changed in SQL: the session's prompt reads them again.
        assert (prompt.post_count, prompt.version) == (1, version + 1)
        kept = {c: getattr(post, c) for c in Post.__table__.columns.keys()}  # noqa: SIM118
        db.session.commit()
        db.session.expire_all()
        assert {c: getattr(post, c) for c in kept} == kept


def test_rules_read_by_a_request_that_wrote_nothing_are_not_reused(
    app, course, alice, alice_client, make_user
):
    """check_writing hands the lock and watched words to the holds of the post the same
    request writes; a later post in the same app context reads them afresh."""
    with app.app_context():
        refused = alice_client.post(
            THREAD + "/posts", data={"body": " ", "idempotency_key": _key()}
        )
        assert refused.status_code == 422
        moderation.add_watched_word(make_user(Role.MODERATOR), "essay mill", "hold")
        post, _ = create_post(
            db.session.get(User, alice.id),
            db.session.get(Prompt, course.prompt_id),
            "Try the essay mill",
        )
        assert post.status == PostStatus.HELD and post.published_at is None
