"""Forgotten passwords and password changes."""

from __future__ import annotations

import pytest

from forum import signals
from forum.accounts import tokens
from forum.accounts.models import User
from forum.extensions import db
from tests.accounts.conftest import PASSWORD
from tests.accounts.helpers import capture, fetch_user, is_logged_in, path_of, text

NEW_PASSWORD = "a completely new passphrase"


def _request_reset(client, email, **kwargs):
    return client.post("/account/forgot-password", data={"email": email}, **kwargs)


def _reset_link(client, email) -> str:
    with capture(signals.password_reset_requested) as sent:
        _request_reset(client, email)
    assert len(sent) == 1
    return path_of(sent[0]["url"])


def _change_password(client, current=PASSWORD, new=NEW_PASSWORD):
    return client.post(
        "/account/settings/password",
        data={"password-current_password": current, "password-new_password": new},
    )


def test_forgot_password_answers_the_same_for_known_and_unknown(app, participant):
    with capture(signals.password_reset_requested) as sent:
        known = _request_reset(app.test_client(), "Pat@Example.com")
        unknown = _request_reset(app.test_client(), "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    assert "Check your inbox" in text(known)
    assert [s["user"].id for s in sent] == [participant.id]


def test_reset_link_ignores_a_hostile_host_header(client, participant):
    with capture(signals.password_reset_requested) as sent:
        _request_reset(
            client,
            participant.email,
            headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        )
    assert sent[0]["url"].startswith("https://hearth.test/account/reset-password/")
    assert "evil" not in sent[0]["url"]


def test_reset_sets_the_password_logs_in_and_works_once(app, client, participant, web_login):
    link = _reset_link(client, participant.email)
    page = client.get(link)
    assert page.status_code == 200
    assert 'autocomplete="new-password"' in page.get_data(as_text=True)

    with capture(signals.password_changed) as changed:
        response = client.post(link, data={"password": NEW_PASSWORD})
    assert response.status_code == 302
    assert is_logged_in(client)
    assert [c["user"].id for c in changed] == [participant.id]

    second = app.test_client().post(link, data={"password": "yet another password"})
    assert second.status_code == 400
    assert "already been used" in text(second)
    assert app.test_client().get(link).status_code == 400

    assert web_login(app.test_client(), participant.email).status_code == 422
    assert web_login(app.test_client(), participant.email, NEW_PASSWORD).status_code == 302


def test_reset_link_dies_when_the_password_changes_another_way(client, participant, login):
    link = _reset_link(client, participant.email)
    login(client, participant)
    assert _change_password(client).status_code == 302
    assert client.get(link).status_code == 400


def test_reset_ends_every_other_session(app, participant, web_login):
    other = app.test_client()
    web_login(other, participant.email, remember=True)
    link = _reset_link(app.test_client(), participant.email)
    app.test_client().post(link, data={"password": NEW_PASSWORD})
    assert not is_logged_in(other)


def test_reset_confirms_an_unconfirmed_address(app, client):
    client.post(
        "/account/signup",
        data={"email": "new@example.com", "display_name": "New", "password": PASSWORD},
    )
    link = _reset_link(client, "new@example.com")
    assert client.post(link, data={"password": NEW_PASSWORD}).status_code == 302
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="new@example.com")).scalar_one()
        assert user.email_confirmed_at is not None


def test_reset_with_a_bad_new_password_keeps_the_link_alive(app, client, participant):
    link = _reset_link(client, participant.email)
    before = fetch_user(app, participant.id).password_hash
    response = client.post(link, data={"password": "short"})
    assert response.status_code == 422
    assert "at least 10 characters" in text(response)
    assert fetch_user(app, participant.id).password_hash == before
    assert client.post(link, data={"password": NEW_PASSWORD}).status_code == 302


@pytest.mark.parametrize("token", ["nonsense", "x" * 5000, "a.b.c", "%FF%FE"])
def test_garbage_reset_tokens_get_a_friendly_400(client, token):
    response = client.get(f"/account/reset-password/{token}")
    assert response.status_code == 400
    assert "isn't valid" in text(response)


def test_tampered_and_cross_purpose_tokens_are_refused(app, client, participant):
    link = _reset_link(client, participant.email)
    token = link.rsplit("/", 1)[1]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with app.test_request_context():
        user = db.session.get(User, participant.id)
        other_kind = tokens.make_email_change_token(user, "x@example.com")
    for bad in (tampered, other_kind):
        response = client.post(f"/account/reset-password/{bad}", data={"password": NEW_PASSWORD})
        assert response.status_code == 400
    assert fetch_user(app, participant.id).password_hash == participant.password_hash


class TestExpired:
    @pytest.fixture
    def app_config(self):
        return {"PASSWORD_RESET_MAX_AGE": -1}

    def test_an_expired_reset_link_is_refused(self, app, client, participant):
        link = _reset_link(client, participant.email)
        response = client.post(link, data={"password": NEW_PASSWORD})
        assert response.status_code == 400
        assert "expired" in text(response)
        assert fetch_user(app, participant.id).password_hash == participant.password_hash


def test_change_password_needs_the_current_one(app, client, participant, login):
    login(client, participant)
    with capture(signals.password_changed) as changed:
        response = _change_password(client, current="wrong password!")
    assert response.status_code == 422
    assert "current password isn't right" in text(response)
    assert changed == []
    assert fetch_user(app, participant.id).password_hash == participant.password_hash


def test_change_password_checks_the_new_one(client, participant, login):
    login(client, participant)
    response = _change_password(client, new="short")
    assert response.status_code == 422
    assert "at least 10 characters" in text(response)
    assert 'aria-invalid="true"' in text(response)


def test_change_password_ends_other_sessions_but_keeps_this_one(
    app, client, participant, web_login
):
    web_login(client, participant.email)
    other = app.test_client()
    web_login(other, participant.email, remember=True)
    remembered_only = app.test_client()
    web_login(remembered_only, participant.email, remember=True)
    remembered_only.delete_cookie("session")
    assert is_logged_in(other) and is_logged_in(remembered_only)

    with capture(signals.password_changed) as changed:
        response = _change_password(client)
    assert response.status_code == 302
    assert [c["user"].id for c in changed] == [participant.id]

    assert is_logged_in(client)
    assert not is_logged_in(other)
    other.delete_cookie("session")  # the remember cookie alone no longer works either
    assert not is_logged_in(other)
    assert not is_logged_in(remembered_only)
    assert web_login(app.test_client(), participant.email, NEW_PASSWORD).status_code == 302


def test_change_password_keeps_a_remembered_session_remembered(client, participant, web_login):
    web_login(client, participant.email, remember=True)
    _change_password(client)
    client.delete_cookie("session")
    assert is_logged_in(client)


def test_anonymous_password_change_goes_to_login(client):
    response = _change_password(client)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login")
