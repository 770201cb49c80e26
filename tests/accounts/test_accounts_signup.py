"""Sign-up: enumeration-safe answers, confirmation links, hostile input."""

from __future__ import annotations

import threading
import time

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import text as sql

from forum import signals
from forum.accounts.models import User
from forum.extensions import db
from tests.accounts.conftest import PASSWORD
from tests.accounts.helpers import capture, is_logged_in, path_of, text


def _signup(client, email="new@example.com", name="New Person", password=PASSWORD, **extra):
    data = {"email": email, "display_name": name, "password": password, **extra}
    return client.post("/account/signup", data=data)


def _user(app, email):
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()
        if user is not None:
            db.session.expunge(user)
        return user


def test_signup_page_renders_accessible_fields(client):
    response = client.get("/account/signup")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<label for="email">' in html
    assert 'autocomplete="email"' in html
    assert 'autocomplete="new-password"' in html
    assert 'aria-describedby="password-help"' in html


def test_new_signup_creates_unconfirmed_user_and_sends_a_confirmation_link(app, client):
    with capture(signals.signup_confirmation_requested) as sent:
        response = _signup(client)
    assert response.status_code == 200
    assert "Check your inbox to finish signing up" in response.get_data(as_text=True)
    user = _user(app, "new@example.com")
    assert user is not None and user.email_confirmed_at is None
    assert user.password_hash.startswith("$argon2id$")
    assert len(sent) == 1 and sent[0]["user"].id == user.id
    assert sent[0]["url"].startswith("https://hearth.test/account/signup/confirm/")
    assert not is_logged_in(client)


def test_confirm_link_shows_a_button_then_confirms_and_logs_in(app, client):
    with capture(signals.signup_confirmation_requested) as sent:
        _signup(client)
    link = path_of(sent[0]["url"])

    page = client.get(link)
    assert page.status_code == 200
    assert "Confirm and log in" in page.get_data(as_text=True)
    assert _user(app, "new@example.com").email_confirmed_at is None  # a GET changes nothing

    response = client.post(link)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert _user(app, "new@example.com").email_confirmed_at is not None
    assert is_logged_in(client)

    again = app.test_client().post(link)
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)


def test_confirm_link_returns_to_the_page_the_reader_came_from(client):
    with capture(signals.signup_confirmation_requested) as sent:
        _signup(client, next="/account/settings?tab=1")
    response = client.post(path_of(sent[0]["url"]))
    assert response.headers["Location"] == "/account/settings?tab=1"


@pytest.mark.parametrize("hostile", ["//evil.com", "https://evil.com", "/\\evil.com"])
def test_confirm_link_ignores_a_hostile_next(client, hostile):
    with capture(signals.signup_confirmation_requested) as sent:
        _signup(client, next=hostile)
    assert client.post(path_of(sent[0]["url"])).headers["Location"] == "/"


def test_signup_with_a_known_address_answers_the_same_and_tells_the_owner(app, client, make_user):
    make_user(email="known@example.com")
    before = _user(app, "known@example.com")
    unknown = _signup(app.test_client(), email="unknown@example.com")
    with (
        capture(signals.signup_attempted_for_existing_account) as attempts,
        capture(signals.signup_confirmation_requested) as confirmations,
    ):
        known = _signup(client, email="Known@Example.com", password="another password 123")
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    assert confirmations == []
    assert len(attempts) == 1
    assert attempts[0]["user"].id == before.id
    assert attempts[0]["login_url"] == "https://hearth.test/account/login"
    assert attempts[0]["reset_url"] == "https://hearth.test/account/forgot-password"
    after = _user(app, "known@example.com")
    assert after.password_hash == before.password_hash
    assert after.display_name == before.display_name


def test_unconfirmed_login_is_refused_and_a_fresh_link_sent(app, client, web_login):
    _signup(client)
    with capture(signals.signup_confirmation_requested) as sent:
        response = web_login(client, "new@example.com")
    assert response.status_code == 200
    assert "Please confirm your email address first" in response.get_data(as_text=True)
    assert len(sent) == 1
    assert not is_logged_in(client)
    # The new link works.
    assert client.post(path_of(sent[0]["url"])).status_code == 302
    assert is_logged_in(client)


def test_unconfirmed_login_with_a_wrong_password_sends_nothing(client, web_login):
    _signup(client)
    with capture(signals.signup_confirmation_requested) as sent:
        response = web_login(client, "new@example.com", password="wrong password!!")
    assert response.status_code == 422
    assert sent == []


def test_resend_confirmation_answers_the_same_for_every_address(app, client, make_user):
    _signup(client, email="pending@example.com")
    make_user(email="done@example.com")
    bodies = []
    with capture(signals.signup_confirmation_requested) as sent:
        for email in ("pending@example.com", "done@example.com", "nobody@example.com"):
            response = app.test_client().post("/account/signup/resend", data={"email": email})
            assert response.status_code == 200
            bodies.append(response.get_data())
    assert bodies[0] == bodies[1] == bodies[2]
    assert [s["user"].email for s in sent] == ["pending@example.com"]


@pytest.mark.parametrize(
    "token",
    ["garbage", "a" * 3000, "eyJ1aWQiOjF9.AAAA.BBBB", "%00", "..%2f..%2fetc"],
)
def test_broken_confirm_tokens_get_a_friendly_400(client, token):
    for method in (client.get, client.post):
        response = method(f"/account/signup/confirm/{token}")
        assert response.status_code in {400, 404}
        if response.status_code == 400:
            assert "link isn't valid" in text(response)


def test_tampered_confirm_token_is_refused(app, client):
    with capture(signals.signup_confirmation_requested) as sent:
        _signup(client)
    token = sent[0]["url"].rsplit("/", 1)[1]
    payload, rest = token.split(".", 1)
    forged = URLSafeTimedSerializer("not the key", salt="signup-confirm").dumps(
        {"uid": sent[0]["user"].id, "email": "new@example.com", "next": ""}
    )
    for bad in (payload[:-2] + "xx." + rest, forged):
        response = client.post(f"/account/signup/confirm/{bad}")
        assert response.status_code == 400
    assert _user(app, "new@example.com").email_confirmed_at is None


class TestExpired:
    @pytest.fixture
    def app_config(self):
        return {"EMAIL_CONFIRM_MAX_AGE": -1}

    def test_expired_confirm_link_is_refused(self, app, client):
        with capture(signals.signup_confirmation_requested) as sent:
            _signup(client)
        response = client.post(path_of(sent[0]["url"]))
        assert response.status_code == 400
        assert "expired" in response.get_data(as_text=True)
        assert _user(app, "new@example.com").email_confirmed_at is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("password", "short", "at least 10 characters"),
        ("password", "x" * 257, "at most 256 characters"),
        ("display_name", "n" * 61, "at most 60 characters"),
        ("display_name", "\u202e\x00 \t", "Please enter a display name"),
        ("display_name", "", "Please enter a display name"),
        ("email", "not-an-address", "doesn't look like an email"),
        ("email", "a" * 250 + "@example.com", "at most 254 characters"),
        ("email", "a@example.com\r\nBcc: victim@example.com", "doesn't look like an email"),
        ("email", "a\x00b@example.com", "doesn't look like an email"),
        ("email", "", "Please enter your email"),
    ],
)
def test_bad_signup_input_gets_a_clear_message_and_creates_nothing(
    app, client, field, value, message
):
    data = {"email": "ok@example.com", "display_name": "Ok", "password": PASSWORD, field: value}
    with capture(signals.signup_confirmation_requested) as sent:
        response = client.post("/account/signup", data=data)
    assert response.status_code == 422
    assert message in text(response)
    assert 'aria-invalid="true"' in text(response)
    assert sent == []
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(User.id))).scalar_one() == 0


def test_hostile_display_name_is_cleaned_before_it_is_stored(app, client):
    name = "Ann\r\nSet-Cookie: x\x00\u202eevil\u202c  <b>"
    _signup(client, name=name)
    stored = _user(app, "new@example.com").display_name
    assert stored == "Ann Set-Cookie: xevil <b>"


def test_oversized_request_body_is_refused_with_413(client):
    response = _signup(client, name="n" * 300_000)
    assert response.status_code == 413


def test_logged_in_person_can_still_open_signup(client, participant, login):
    login(client, participant)
    assert client.get("/account/signup").status_code == 200


def test_a_broken_confirm_link_offers_a_new_one(client):
    response = client.get("/account/signup/confirm/garbage")
    assert response.status_code == 400
    assert "That link didn't work" in text(response)
    assert 'href="/account/signup/resend"' in text(response)


def test_two_sign_ups_racing_for_one_address_get_the_same_answer(app, raw_engine, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite takes the write lock up front, so two sign-ups never interleave")
    unknown = _signup(app.test_client(), email="someone-else@example.com")
    # Another sign-up for new@example.com has inserted its row and not yet committed.
    other = raw_engine.connect()
    other_tx = other.begin()
    other.execute(
        User.__table__.insert().values(
            email="new@example.com", display_name="First", password_hash="x"
        )
    )
    answers: dict = {}
    with (
        capture(signals.signup_attempted_for_existing_account) as attempts,
        capture(signals.signup_confirmation_requested) as confirmations,
    ):
        racer = threading.Thread(target=lambda: answers.update(response=_signup(app.test_client())))
        racer.start()
        try:
            # Ours checked (no such address yet) and now waits on the unique index.
            with raw_engine.connect() as watcher:
                for _ in range(200):
                    waiting = watcher.execute(
                        sql(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                            "'Lock' AND datname = current_database()"
                        )
                    ).scalar_one()
                    if waiting:
                        break
                    time.sleep(0.05)
            assert waiting, "the racing sign-up never reached the insert"
        finally:
            other_tx.commit()
            other.close()
            racer.join(timeout=30)
    response = answers["response"]
    assert response.status_code == 200
    assert response.get_data() == unknown.get_data()
    assert confirmations == []
    assert [a["user"].email for a in attempts] == ["new@example.com"]
    assert _user(app, "new@example.com").display_name == "First"
