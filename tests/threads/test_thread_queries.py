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
from tests.threads.conftest import THREAD, add_participants


@pytest.fixture
def app_config():
    return {"POSTS_PER_PAGE": 50}


def _fill_thread(app, prompt_id: int, authors: int) -> None:
    """``authors`` new people each write one post; every other post replies to the one before."""
    with app.app_context():
        now = utcnow()
        people = add_participants("writer", authors)
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


def _fill_and_count(app, client, course, size: int, path: str, pages=(1,)):
    """Statements for each of ``pages`` of a thread of ``size`` posts, cold (nothing cached)
    then warm (the same request again)."""
    prompt_id = course.prompt_id if "first-memory" in path else course.other_prompt_id
    _fill_thread(app, prompt_id, size)
    counts = []
    for number in pages:
        url = path if number == 1 else f"{path}?page={number}"
        cold, seen_cold = _count(app, client, url)
        warm, seen_warm = _count(app, client, url)
        counts.append((cold, warm, seen_cold, seen_warm))
    return counts


@pytest.mark.parametrize("who", ["reader", "participant"])
def test_the_thread_page_runs_the_same_statements_for_10_and_200_posts(
    app, course, who, make_user, login
):
    client = app.test_client()
    if who == "participant":
        login(client, make_user(Role.PARTICIPANT))
    small = _fill_and_count(app, client, course, 10, THREAD)
    large = _fill_and_count(app, client, course, 200, "/c/allyship/noticing/the-room", (1, 4))
    page = client.get("/c/allyship/noticing/the-room?page=4").get_data(as_text=True)
    assert page.count('class="post post--visible"') == 50
    last = db_names(app)[-1]
    assert f"Reflection by {last}" in page and f"In reply to {db_names(app)[-2]}" in page
    (s_cold, s_warm, _, _), *_ = small
    assert large[0][:2] == (s_cold, s_warm), large[0][2:]
    for cold, warm, seen_cold, seen_warm in large:
        # The last page costs what the first does (its boundaries are known by then).
        assert cold <= s_cold and warm == s_warm, (seen_cold, seen_warm)
        # At most 6 statements, cold. A reader: the thread's data version, the prompt with
        # its module and course, the page boundaries, the posts with their authors and
        # quoted parents, the thread's lock. A participant: the person, the data version
        # with their email setting for the thread, then the same three and the lock (their
        # own posts on the page come with the posts).
        assert cold <= 6, "\n".join(s[:100].replace("\n", " ") for s in seen_cold)
        if who == "reader":
            # Warm, an anonymous reader's page comes whole from the cache: one statement,
            # the data version.
            assert warm == 1, seen_warm
        else:
            # Warm, the page's frame comes from the cache: the person, the data version
            # with their email setting, their own posts on the page.
            assert warm == 3, seen_warm


def test_a_moderator_reads_a_thread_in_a_fixed_number_of_statements(app, course, make_user, login):
    client = app.test_client()
    login(client, make_user(Role.MODERATOR))
    (small,) = _fill_and_count(app, client, course, 10, THREAD)
    large = _fill_and_count(app, client, course, 200, "/c/allyship/noticing/the-room", (1, 4))
    assert large[0][:2] == small[:2], large[0][2:]
    for counts in large:
        assert counts[0] <= small[0] and counts[1] == small[1], counts[2:]
        assert counts[0] <= 6, counts[2]


def test_writing_a_post_runs_the_same_statements_in_a_short_and_a_long_thread(
    app, course, make_user, login
):
    client = app.test_client()
    login(client, make_user(Role.PARTICIPANT))
    counts = []
    for size, path in ((10, THREAD), (200, "/c/allyship/noticing/the-room")):
        prompt_id = course.prompt_id if path == THREAD else course.other_prompt_id
        _fill_thread(app, prompt_id, size)
        with statements(app) as seen:
            response = client.post(
                path + "/posts", data={"body": f"A reflection in a thread of {size}."}
            )
        assert response.status_code == 303
        counts.append((len(seen), seen))
    (small, _), (large, seen) = counts
    assert small == large, seen
    # No read-back of the post: the person, the prompt, the moderation checks, the insert,
    # the count and version, the notification event.
    assert large <= 16, seen


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


def test_a_post_is_rendered_before_the_first_statement_and_not_read_back(
    app, course, make_user, login, monkeypatch
):
    from forum import markup
    from forum.threads import services

    client = app.test_client()
    login(client, make_user(Role.PARTICIPANT))
    with statements(app) as seen:
        rendered_after: list[int] = []
        real = markup.render_markdown

        def _render(source):
            rendered_after.append(len(seen))
            return real(source)

        monkeypatch.setattr(services, "render_markdown", _render)
        response = client.post(THREAD + "/posts", data={"body": "Rendered *early*."})
    assert response.status_code == 303
    # Once, before any statement (on SQLite the first one of a POST takes the write lock).
    assert rendered_after == [0], seen
    # Written, never selected back.
    inserted = [s for s in seen if s.startswith("INSERT INTO posts")]
    assert len(inserted) == 1
    assert not [s for s in seen[seen.index(inserted[0]) :] if s.startswith("SELECT posts.id")]
