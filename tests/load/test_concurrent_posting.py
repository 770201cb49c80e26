"""Several gunicorn workers posting to one thread at once, on SQLite and on PostgreSQL:
no error, no "database is locked", no lost post or count; and one form sent ten times at
once makes one post. Real HTTP clients log in through the form and post with CSRF on.
Bounded in count (PEOPLE x POSTS_EACH requests) and in time."""

from __future__ import annotations

import os
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from forum.accounts.models import Role
from forum.accounts.services import create_user
from forum.courses import DEMO_COURSE_FILE
from forum.courses.models import Prompt
from forum.courses.services import import_course, read_course_file
from forum.extensions import db
from forum.threads.models import Post
from notifications.models import NotificationEvent
from tests.conftest import TEST_PASSWORD, make_test_app
from tests.faults.servers import scratch_postgres_database
from tests.load.live import Gunicorn, production_env

PEOPLE = 8
POSTS_EACH = 60
WORKERS = 4
PER_PAGE = 25
SAME_FORM_SUBMITS = 10


def _dialect(url: str) -> str:
    return "postgresql" if url.startswith("postgres") else "sqlite"


# The suite runs once per backend (CI: SQLite, then HEARTH_TEST_DATABASE_URL on
# PostgreSQL), so each run loads the backend it is on; both are proven across the two runs.
SUITE_BACKEND = "postgresql" if os.environ.get("HEARTH_TEST_DATABASE_URL") else "sqlite"


@pytest.fixture(params=[SUITE_BACKEND])
def load_db(request, database_url, tmp_path):
    """(app, url) on the wanted backend: the suite's own database when it is that backend
    (HEARTH_TEST_DATABASE_URL on PostgreSQL), else a fresh SQLite file or a scratch
    PostgreSQL database created for this test and dropped after it."""
    wanted = request.param
    if _dialect(database_url) == wanted:
        yield request.getfixturevalue("app"), database_url
        return
    if wanted == "sqlite":
        url = "sqlite:///" + str(tmp_path / "load.sqlite3")
        app = make_test_app(url)
        with app.app_context():
            db.create_all()
        yield app, url
        return
    with scratch_postgres_database() as url:
        app = make_test_app(url)
        with app.app_context():
            db.create_all()
        yield app, url
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _thread_and_people(app, count: int) -> tuple[str, int, list[str]]:
    """The demo course's first thread (its path, its prompt id) and ``count`` people."""
    with app.app_context():
        course = import_course(read_course_file(DEMO_COURSE_FILE)).course
        module = course.modules[0]
        prompt = module.prompts[0]
        path = f"/c/{course.slug}/{module.slug}/{prompt.slug}"
        prompt_id = prompt.id
        emails = []
        for n in range(count):
            email = f"poster-{n}-{secrets.token_hex(3)}@example.com"
            create_user(email, f"Poster {n}", TEST_PASSWORD, role=Role.PARTICIPANT, confirmed=True)
            emails.append(email)
        db.session.commit()
    return path, prompt_id, emails


def _server_env(url: str) -> dict[str, str]:
    return production_env(
        url,
        # One person posts 60 times in a few seconds here; production's budget is 10/min.
        HEARTH_POST_RATE_LIMIT="10000 per minute",
        HEARTH_NOTIFICATIONS_EDIT_WINDOW="600",
    )


@pytest.mark.slow
def test_many_workers_posting_to_one_thread_lose_nothing(load_db):
    app, url = load_db
    path, prompt_id, emails = _thread_and_people(app, PEOPLE)
    start = threading.Barrier(PEOPLE)

    with Gunicorn(_server_env(url), workers=WORKERS) as server:

        def post_all(n: int) -> list[tuple[int, str]]:
            browser = server.browser()
            try:
                logged_in = browser.login(emails[n], TEST_PASSWORD)
                assert logged_in.status in (302, 303), logged_in.text[-500:]
                csrf_token, first_key = browser.post_form(path)
                start.wait(timeout=60)
                results = []
                for i in range(POSTS_EACH):
                    answer = browser.post(
                        path,
                        f"Reflection {i} from poster {n}: {secrets.token_hex(4)}",
                        csrf_token,
                        first_key if i == 0 else None,
                    )
                    results.append((answer.status, answer.headers.get("Location", "")))
                return results
            finally:
                browser.close()

        with ThreadPoolExecutor(max_workers=PEOPLE) as pool:
            results = list(pool.map(post_all, range(PEOPLE), timeout=240))

        reader = server.browser()
        first_page = reader.get(path)
        last = -(-PEOPLE * POSTS_EACH // PER_PAGE)
        last_page = reader.get(f"{path}?page={last}")
        beyond = reader.get(f"{path}?page={last + 1}")
        reader.close()
    stderr = server.stderr.decode(errors="replace")

    answers = [answer for result in results for answer in result]
    statuses = [status for status, _ in answers]
    assert statuses == [303] * (PEOPLE * POSTS_EACH), (
        {s: statuses.count(s) for s in set(statuses)},
        stderr[-3000:],
    )
    post_ids = {int(m.group(1)) for _, loc in answers if (m := re.search(r"/posts/(\d+)", loc))}
    assert len(post_ids) == PEOPLE * POSTS_EACH  # every answer points at a post of its own
    assert "database is locked" not in stderr
    assert "Traceback" not in stderr, stderr[-3000:]

    with app.app_context():
        stored = db.session.execute(
            select(func.count(Post.id)).filter_by(prompt_id=prompt_id)
        ).scalar_one()
        per_author = db.session.execute(
            select(func.count(Post.id)).filter_by(prompt_id=prompt_id).group_by(Post.author_id)
        ).scalars()
        counted = db.session.get(Prompt, prompt_id).post_count
        # Each post's email event was written in its post's transaction: one each.
        events = db.session.execute(select(func.count(NotificationEvent.id))).scalar_one()
    assert stored == counted == events == PEOPLE * POSTS_EACH
    assert sorted(per_author) == [POSTS_EACH] * PEOPLE

    # The thread's pages say the same: 480 reflections, 20 pages, 5 on the last.
    assert first_page.status == 200
    assert f"{PEOPLE * POSTS_EACH} reflections" in first_page.text
    assert f"page 1 of {last}" in first_page.text
    assert first_page.text.count('<article class="post ') == PER_PAGE
    assert last_page.status == 200
    on_last = PEOPLE * POSTS_EACH - (last - 1) * PER_PAGE
    assert last_page.text.count('<article class="post ') == on_last
    assert beyond.status == 404


@pytest.mark.slow
def test_one_form_sent_ten_times_at_once_makes_one_post(load_db):
    app, url = load_db
    path, prompt_id, [email] = _thread_and_people(app, 1)
    with Gunicorn(_server_env(url), workers=WORKERS) as server:
        person = server.browser()
        assert person.login(email, TEST_PASSWORD).status in (302, 303)
        csrf_token, key = person.post_form(path)
        cookies = dict(person.cookies)
        person.close()
        release = threading.Barrier(SAME_FORM_SUBMITS)

        def submit(_n: int):
            # The same session (cookie) and the same form (token, key), on its own connection.
            browser = server.browser()
            browser.cookies = dict(cookies)
            try:
                release.wait(timeout=30)
                answer = browser.post(path, "Sent once, clicked ten times.", csrf_token, key)
                return answer.status, answer.headers.get("Location", "")
            finally:
                browser.close()

        with ThreadPoolExecutor(max_workers=SAME_FORM_SUBMITS) as pool:
            answers = list(pool.map(submit, range(SAME_FORM_SUBMITS), timeout=60))
    stderr = server.stderr.decode(errors="replace")

    assert [status for status, _ in answers] == [303] * SAME_FORM_SUBMITS, stderr[-3000:]
    assert len({location for _, location in answers}) == 1  # all shown the same post
    with app.app_context():
        [post] = db.session.execute(select(Post).filter_by(prompt_id=prompt_id)).scalars()
        assert post.idempotency_key == key
        assert db.session.get(Prompt, prompt_id).post_count == 1
        assert db.session.execute(select(func.count(NotificationEvent.id))).scalar_one() == 1
    assert answers[0][1].endswith(f"/posts/{post.id}")
