"""PostgreSQL restarted under a running site: the first requests after it is back succeed
(the engine pings pooled connections before use), and nothing committed before is lost.

It runs a PostgreSQL cluster of its own (Debian's initdb and pg_ctl) on a free loopback
port: the shared server is never touched.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from forum.accounts.models import Role
from forum.accounts.services import create_user
from forum.courses.services import import_course
from forum.extensions import db
from forum.threads.models import Post
from notifications.models import NotificationEvent, OutboxMessage
from tests.conftest import TEST_PASSWORD, make_test_app
from tests.course_data import SMALL_COURSE
from tests.faults.servers import PrivatePostgres
from tests.load.live import ROOT, Gunicorn, production_env

FLASK = str(Path(sys.executable).parent / "flask")
THREAD = "/c/allyship/noticing/first-memory"


@pytest.fixture
def private_postgres():
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _counts(url: str) -> dict[str, int]:
    """Rows that matter, read by a fresh engine (disposed at once)."""
    app = make_test_app(url)
    with app.app_context():
        counts = {
            "posts": db.session.execute(select(func.count(Post.id))).scalar_one(),
            "events": db.session.execute(select(func.count(NotificationEvent.id))).scalar_one(),
            "mail": db.session.execute(select(func.count(OutboxMessage.id))).scalar_one(),
        }
        db.session.remove()
        db.engine.dispose()
    return counts


@pytest.mark.slow
def test_postgres_restart_first_request_after_succeeds_and_nothing_is_lost(private_postgres):
    url = private_postgres.url
    env = production_env(
        url,
        HEARTH_POST_RATE_LIMIT="1000 per minute",
        HEARTH_NOTIFICATIONS_EDIT_WINDOW="600",
    )
    upgrade = subprocess.run(
        [FLASK, "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT, env=env, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert upgrade.returncode == 0, upgrade.stderr.decode(errors="replace")[-2000:]
    setup = make_test_app(url)
    with setup.app_context():
        import_course(SMALL_COURSE)
        create_user("writer@example.com", "Writer", TEST_PASSWORD, role=Role.PARTICIPANT,
                    confirmed=True)  # fmt: skip
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    with Gunicorn(env, workers=2) as server:
        person = server.browser()
        assert person.login("writer@example.com", TEST_PASSWORD).status in (302, 303)
        csrf_token, _ = person.post_form(THREAD)
        for n in range(3):
            assert person.post(THREAD, f"Before the restart, {n}.", csrf_token).status == 303
        newcomer = server.browser()
        signup_page = newcomer.get("/account/signup")
        signed_up = newcomer.request(
            "POST",
            "/account/signup",
            {"csrf_token": signup_page.hidden("csrf_token"), "email": "new@example.com",
             "display_name": "Newcomer", "password": TEST_PASSWORD},
        )  # fmt: skip
        assert signed_up.status == 200 and "Check your inbox" in signed_up.text, signed_up.status
        before = _counts(url)
        assert before == {"posts": 3, "events": 3, "mail": 1}  # the confirmation is queued

        private_postgres.restart()  # pg_ctl -m fast restart: every connection is cut

        # The first requests after it is back: a page, then a post, on each worker.
        reader = server.browser()
        answers = []
        for n in range(4):
            page = reader.get(THREAD)
            answers.append(("GET", page.status))
            if n == 0:
                assert all(f"Before the restart, {i}." in page.text for i in range(3))
            posted = person.post(THREAD, f"After the restart, {n}.", csrf_token)
            answers.append(("POST", posted.status))
        again = server.browser()
        answers.append(("login", again.login("writer@example.com", TEST_PASSWORD).status))
    stderr = server.stderr.decode(errors="replace")

    assert answers == [("GET", 200), ("POST", 303)] * 4 + [("login", 302)], stderr[-3000:]
    after = _counts(url)
    assert after == {"posts": 7, "events": 7, "mail": 1}
