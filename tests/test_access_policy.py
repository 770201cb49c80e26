"""Operator settings for reading: HEARTH_READ_REQUIRES_LOGIN and HEARTH_NOINDEX."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from forum.courses.services import import_course
from forum.extensions import db
from notifications.models import UnsubscribeScope
from notifications.services import ensure_tokens
from tests.course_data import SMALL_COURSE

THREAD = "/c/allyship/noticing/first-memory"
ROBOTS_META = '<meta name="robots" content="noindex, nofollow">'


@pytest.fixture
def course(app):
    with app.app_context():
        import_course(SMALL_COURSE)
        db.session.commit()


@pytest.fixture
def unsubscribe_path(app, make_user) -> str:
    user = make_user()
    with app.app_context():
        key = (user.id, UnsubscribeScope.ALL_DISCUSSION.value, 0)
        token = ensure_tokens([key])[key]
        db.session.commit()
    return f"/u/{token}"


def _get(client, path: str):
    """GET and close the response (a static file left open is a ResourceWarning)."""
    response = client.get(path)
    response.close()
    return response


def _login_next(response) -> str | None:
    """The ``next`` of a redirect to the login page, or None if it is not one."""
    if response.status_code != 302:
        return None
    parts = urlsplit(response.headers["Location"])
    if parts.path != "/account/login":
        return None
    return parse_qs(parts.query).get("next", [""])[0]


class TestReadingIsOpenByDefault:
    def test_settings_default_to_off(self, app):
        assert app.config["READ_REQUIRES_LOGIN"] is False
        assert app.config["NOINDEX"] is False

    def test_anonymous_reader_sees_the_thread(self, client, course):
        response = client.get(THREAD)
        assert response.status_code == 200
        assert "A first memory" in response.get_data(as_text=True)

    def test_no_robots_header_or_meta(self, client, course):
        response = client.get(THREAD)
        assert "X-Robots-Tag" not in response.headers
        assert ROBOTS_META not in response.get_data(as_text=True)


class TestReadingRequiresLogin:
    @pytest.fixture
    def app_config(self):
        return {"READ_REQUIRES_LOGIN": True}

    @pytest.mark.parametrize(
        "path", ["/", THREAD, "/c/allyship", "/c/allyship/noticing", THREAD + "?page=1"]
    )
    def test_anonymous_reader_is_sent_to_log_in_and_back(self, client, course, path):
        response = client.get(path)
        assert _login_next(response) == path

    def test_an_unknown_page_also_asks_for_a_login(self, client, course):
        assert _login_next(client.get("/c/no-such-course")) == "/c/no-such-course"

    def test_a_logged_in_reader_sees_the_thread(self, client, course, make_user, login):
        login(client, make_user())
        response = client.get(THREAD)
        assert response.status_code == 200
        assert "A first memory" in response.get_data(as_text=True)

    @pytest.mark.parametrize(
        "path",
        [
            "/account/login",
            "/account/signup",
            "/account/forgot-password",
            "/account/signup/resend",
            "/static/hearth.css",
            "/static/hearth.js",
        ],
    )
    def test_the_way_in_stays_open(self, client, path):
        assert _get(client, path).status_code == 200

    @pytest.mark.parametrize(
        "path", ["/account/signup/confirm/not-a-token", "/account/reset-password/not-a-token"]
    )
    def test_links_from_emails_are_not_redirected_to_log_in(self, client, path):
        assert _login_next(client.get(path)) is None

    def test_one_click_unsubscribe_works_without_a_login(self, client, unsubscribe_path):
        shown = client.get(unsubscribe_path)
        assert shown.status_code == 200
        assert 'method="post"' in shown.get_data(as_text=True)
        done = client.post(unsubscribe_path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert _login_next(done) is None


class TestNoindex:
    @pytest.fixture
    def app_config(self):
        return {"NOINDEX": True}

    @pytest.mark.parametrize("path", [THREAD, "/account/login", "/static/hearth.css", "/nope"])
    def test_every_response_asks_robots_to_stay_away(self, client, course, path):
        assert _get(client, path).headers["X-Robots-Tag"] == "noindex, nofollow"

    def test_pages_carry_the_meta_tag(self, client, course):
        page = client.get(THREAD).get_data(as_text=True)
        assert page.count(ROBOTS_META) == 1
        assert page.index(ROBOTS_META) < page.index("</head>")

    def test_reading_stays_open(self, client, course):
        assert client.get(THREAD).status_code == 200


def test_environment_variables_switch_both_on(monkeypatch, database_url, _schema):
    from tests.conftest import make_test_app

    monkeypatch.setenv("HEARTH_READ_REQUIRES_LOGIN", "true")
    monkeypatch.setenv("HEARTH_NOINDEX", "true")
    app = make_test_app(database_url)
    assert app.config["READ_REQUIRES_LOGIN"] is True
    assert app.config["NOINDEX"] is True
