"""Addresses beyond ASCII: letters before the @ are refused with a clear message (our mail
path can't send to them yet); an internationalised domain works, stored as punycode."""

from __future__ import annotations

import pytest

from forum import signals
from forum.accounts.models import User
from forum.accounts.services import NON_ASCII_LOCAL_PART
from forum.extensions import db
from tests.accounts.conftest import PASSWORD
from tests.accounts.helpers import capture, fetch_user, path_of, text

UNICODE_LOCAL = "jürgen@example.com"
UNICODE_DOMAIN = "Jo@Bücher.example"
PUNYCODE = "jo@xn--bcher-kva.example"


def _signup(client, email):
    data = {"email": email, "display_name": "Jo", "password": PASSWORD}
    return client.post("/account/signup", data=data)


def _users(app) -> list[str]:
    with app.app_context():
        return list(db.session.execute(db.select(User.email)).scalars())


def _change_email(client, new_email):
    return client.post(
        "/account/settings/email",
        data={"email-new_email": new_email, "email-current_password": PASSWORD},
    )


@pytest.mark.parametrize("email", [UNICODE_LOCAL, "ü@bücher.example", "δοκιμή@example.com"])
def test_signup_refuses_letters_beyond_ascii_before_the_at(app, client, email):
    with capture(signals.signup_confirmation_requested) as sent:
        response = _signup(client, email)
    assert response.status_code == 422
    assert NON_ASCII_LOCAL_PART in text(response)
    assert 'aria-invalid="true"' in text(response)
    assert sent == [] and _users(app) == []


def test_signup_with_an_internationalised_domain_works(app, client, web_login):
    with capture(signals.signup_confirmation_requested) as sent:
        response = _signup(client, UNICODE_DOMAIN)
    assert response.status_code == 200
    assert "Check your inbox" in text(response)
    assert _users(app) == [PUNYCODE]
    assert client.post(path_of(sent[0]["url"])).status_code == 302
    # Either spelling of the domain logs in.
    for spelling in (UNICODE_DOMAIN, PUNYCODE):
        assert web_login(app.test_client(), spelling).status_code == 302


def test_a_known_internationalised_address_is_known_in_either_spelling(app, client, make_user):
    make_user(email=PUNYCODE)
    with capture(signals.signup_attempted_for_existing_account) as attempts:
        assert _signup(client, "jo@bücher.example").status_code == 200
    assert len(attempts) == 1
    assert _users(app) == [PUNYCODE]


def test_email_change_refuses_letters_beyond_ascii_before_the_at(client, participant, login):
    login(client, participant)
    with capture(signals.email_change_requested) as requested:
        response = _change_email(client, UNICODE_LOCAL)
    assert response.status_code == 422
    assert NON_ASCII_LOCAL_PART in text(response)
    assert 'aria-invalid="true"' in text(response)
    assert requested == []


def test_email_change_to_an_internationalised_domain_works(app, client, participant, login):
    login(client, participant)
    with capture(signals.email_change_requested) as requested:
        response = _change_email(client, UNICODE_DOMAIN)
    assert response.status_code == 302
    assert requested[0]["new_email"] == PUNYCODE
    assert client.post(path_of(requested[0]["url"])).status_code == 302
    assert fetch_user(app, participant.id).email == PUNYCODE


def test_forgot_password_refuses_letters_beyond_ascii_before_the_at(client):
    response = client.post("/account/forgot-password", data={"email": UNICODE_LOCAL})
    assert response.status_code == 422
    assert NON_ASCII_LOCAL_PART in text(response)


def test_cli_create_refuses_letters_beyond_ascii_before_the_at(app, runner):
    args = ["users", "create", UNICODE_LOCAL, "--name", "J", "--password", PASSWORD]
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert NON_ASCII_LOCAL_PART in result.output
    assert "Traceback" not in result.output
    assert _users(app) == []


def test_cli_create_stores_an_internationalised_domain_as_punycode(app, runner):
    args = ["users", "create", UNICODE_DOMAIN, "--name", "Jo", "--password", PASSWORD]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert f"Created {PUNYCODE} (participant)." in result.output
    assert _users(app) == [PUNYCODE]
