"""Login, logout, remember me, the ``next`` parameter and rate limits."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from forum.extensions import limiter
from tests.accounts.conftest import PASSWORD
from tests.accounts.helpers import fetch_user, is_logged_in, logged_in_user_id, text

MISMATCH = "That email and password don't match an account."


def test_login_page_has_labelled_fields_and_autocomplete(client):
    html = client.get("/account/login").get_data(as_text=True)
    assert '<label for="email">' in html and '<label for="password">' in html
    assert 'autocomplete="current-password"' in html
    assert 'name="remember"' in html


def test_login_logs_in_and_records_the_time(app, client, participant, web_login):
    assert fetch_user(app, participant.id).last_login_at is None
    response = web_login(client, "PAT@example.com ")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert logged_in_user_id(client) == participant.id
    assert is_logged_in(client)
    assert fetch_user(app, participant.id).last_login_at is not None


def test_unknown_email_and_wrong_password_get_the_same_answer(app, participant, web_login):
    wrong = web_login(app.test_client(), participant.email, password="not my password")
    unknown = web_login(app.test_client(), "nobody@example.com")
    assert wrong.status_code == unknown.status_code == 422
    assert MISMATCH in text(wrong)
    # The only difference may be the address echoed back into the email field.
    assert text(wrong).replace(participant.email, "X") == text(unknown).replace(
        "nobody@example.com", "X"
    )


def test_login_starts_a_fresh_session(client, participant, web_login):
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    web_login(client, participant.email)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"].startswith(f"{participant.id}:")


def test_logout_is_post_only_and_ends_the_session(client, participant, web_login):
    web_login(client, participant.email)
    assert client.get("/account/logout").status_code == 405
    assert is_logged_in(client)
    response = client.post("/account/logout")
    assert response.status_code == 302
    assert not is_logged_in(client)


def test_logout_forgets_the_remember_me_cookie(client, participant, web_login):
    web_login(client, participant.email, remember=True)
    response = client.post("/account/logout")
    assert response.status_code == 302
    assert "You have logged out" in text(client.get(response.headers["Location"]))
    assert client.get_cookie("remember_token") is None
    assert not is_logged_in(client)
    client.delete_cookie("session")
    assert not is_logged_in(client)


@pytest.mark.parametrize("kept", ["session", "remember_token", "both"])
def test_cookies_copied_before_logout_no_longer_log_in(app, participant, web_login, kept):
    client = app.test_client()
    web_login(client, participant.email, remember=True)
    copies = {
        name: client.get_cookie(name).value
        for name in ("session", "remember_token")
        if kept in {name, "both"}
    }
    # The copies work before logging out...
    thief = app.test_client()
    for name, value in copies.items():
        thief.set_cookie(name, value)
    assert is_logged_in(thief)

    assert client.post("/account/logout").status_code == 302

    # ... and not after, in a browser that never logged out.
    thief = app.test_client()
    for name, value in copies.items():
        thief.set_cookie(name, value)
    assert not is_logged_in(thief)


def test_logout_ends_the_sessions_on_other_devices_too(app, participant, web_login):
    laptop, phone = app.test_client(), app.test_client()
    web_login(laptop, participant.email)
    web_login(phone, participant.email, remember=True)
    laptop.post("/account/logout")
    assert not is_logged_in(phone)
    # Logging in again works as ever.
    assert web_login(laptop, participant.email).status_code == 302
    assert is_logged_in(laptop)


def test_logout_without_a_login_is_harmless(client):
    response = client.post("/account/logout")
    assert response.status_code == 302
    assert not is_logged_in(client)


def test_remember_me_survives_the_end_of_the_browser_session(client, participant, web_login):
    web_login(client, participant.email, remember=True)
    assert client.get_cookie("remember_token") is not None
    client.delete_cookie("session")
    assert is_logged_in(client)


def test_without_remember_me_closing_the_browser_logs_out(client, participant, web_login):
    web_login(client, participant.email)
    assert client.get_cookie("remember_token") is None
    client.delete_cookie("session")
    assert not is_logged_in(client)


def test_a_protected_page_sends_you_to_login_and_back(client, participant, web_login):
    response = client.get("/account/settings?tab=email")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/account/login"
    next_url = parse_qs(location.query)["next"][0]
    assert next_url == "/account/settings?tab=email"

    form = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="/account/settings?tab=email"' in form

    back = web_login(client, participant.email, next_url=next_url)
    assert back.headers["Location"] == "/account/settings?tab=email"


def test_an_anonymous_post_goes_to_login_and_back_to_the_page_with_the_form(client):
    response = client.post(
        "/account/settings/name",
        data={"name-display_name": "X"},
        headers={"Referer": "http://localhost/some/thread?page=2"},
    )
    assert response.status_code == 302
    next_url = parse_qs(urlsplit(response.headers["Location"]).query)["next"][0]
    assert next_url == "/some/thread?page=2"


def test_an_anonymous_post_with_a_foreign_referrer_gets_no_next(client):
    response = client.post(
        "/account/settings/name", headers={"Referer": "https://evil.example/page"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/login"


@pytest.mark.parametrize(
    "hostile",
    [
        "//evil.com",
        "https://evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "http:evil.com",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x",
        "/\r\nSet-Cookie: x",
        "/\x00",
        "  //evil.com",
    ],
)
def test_hostile_next_always_lands_at_home(client, participant, web_login, hostile):
    response = web_login(client, participant.email, next_url=hostile)
    assert response.status_code == 302
    location = response.headers["Location"]
    if hostile == "/%0d%0aSet-Cookie:x":  # an escaped path on this site is harmless
        assert location == hostile
    else:
        assert location == "/"
    assert "Set-Cookie: x" not in str(response.headers)


@pytest.mark.parametrize("hostile", ["//evil.com", "https://evil.com", "/\\evil.com"])
def test_hostile_next_on_the_login_page_is_dropped(client, participant, login, hostile):
    html = client.get("/account/login", query_string={"next": hostile}).get_data(as_text=True)
    assert "evil.com" not in html
    login(client, participant)
    response = client.get("/account/login", query_string={"next": hostile})
    assert response.headers["Location"] == "/"


def test_an_already_logged_in_reader_is_sent_on(client, participant, login):
    login(client, participant)
    response = client.get("/account/login?next=/account/settings")
    assert response.headers["Location"] == "/account/settings"


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("pat@example.com\r\nBcc: x@example.com", PASSWORD),
        ("pat@example.com\x00", PASSWORD),
        ("pat@example.com", PASSWORD + "\x00"),
        ("", ""),
    ],
)
def test_hostile_login_input_is_refused_without_error(
    client, participant, web_login, email, password
):
    response = web_login(client, email, password=password)
    assert response.status_code == 422
    assert not is_logged_in(client)


def test_invalid_utf8_in_a_form_is_refused_without_error(client, participant):
    response = client.post(
        "/account/login",
        data=b"email=%FF%FEpat%40example.com&password=%ED%A0%80xyz",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code in {400, 422}
    assert not is_logged_in(client)


def test_oversized_login_fields_get_a_form_error(client, participant, web_login):
    response = web_login(client, "a" * 300 + "@example.com", password="p" * 5000)
    assert response.status_code == 422
    assert "at most 254 characters" in text(response)
    assert "at most 256 characters" in text(response)


class TestRateLimit:
    @pytest.fixture
    def app_config(self):
        return {"RATELIMIT_ENABLED": True}

    @pytest.fixture(autouse=True)
    def _fresh_limits(self, app):
        with app.app_context():
            limiter.reset()
        yield
        with app.app_context():
            limiter.reset()

    def test_the_eleventh_login_in_a_minute_is_refused(self, client, participant, web_login):
        # Ten different accounts, so only the per-address limit is reached.
        for n in range(10):
            response = web_login(client, f"someone{n}@example.com", password="wrong password")
            assert response.status_code == 422
        response = web_login(client, participant.email)
        assert response.status_code == 429
        assert "Too many attempts" in text(response)
        assert not is_logged_in(client)
        # Reading the page is not limited.
        assert client.get("/account/login").status_code == 200

    def test_signup_is_limited(self, client):
        data = {"email": "bad", "display_name": "x", "password": "y"}
        codes = [client.post("/account/signup", data=data).status_code for _ in range(6)]
        assert codes == [422] * 5 + [429]

    def test_forgot_password_is_limited(self, client):
        codes = [
            client.post("/account/forgot-password", data={"email": "a@example.com"}).status_code
            for _ in range(6)
        ]
        assert codes == [200] * 5 + [429]

    def test_resend_confirmation_is_limited(self, client):
        codes = [
            client.post("/account/signup/resend", data={"email": "a@example.com"}).status_code
            for _ in range(6)
        ]
        assert codes == [200] * 5 + [429]


def test_a_reader_who_clicks_reply_logs_in_and_comes_back(client, participant, web_login):
    response = client.get("/posts/1/reply")
    assert response.status_code == 302
    next_url = parse_qs(urlsplit(response.headers["Location"]).query)["next"][0]
    assert next_url == "/posts/1/reply"
    assert web_login(client, participant.email, next_url=next_url).headers["Location"] == (
        "/posts/1/reply"
    )


class TestWithCsrf:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_login_and_logout_need_the_form_token(self, client, participant):
        data = {"email": participant.email, "password": PASSWORD}
        assert client.post("/account/login", data=data).status_code == 400
        assert not is_logged_in(client)

        html = client.get("/account/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        assert client.post("/account/login", data={**data, "csrf_token": token}).status_code == 302
        assert is_logged_in(client)

        assert client.post("/account/logout").status_code == 400
        assert is_logged_in(client)
