"""Common and breached-list passwords, and passwords made of the person's own address or
name, are refused at sign-up, reset and change, with a clear message."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from forum.accounts import services, tokens
from forum.accounts.models import User
from forum.extensions import db
from tests.conftest import TEST_PASSWORD

COMMON = [
    "password123",
    "1234567890",
    "qwertyuiop",
    "PASSWORD123",
    "Qwertyuiop",
    "iloveyou123",
    "1qaz2wsx3edc",
    "letmein2024",
    "Football1!",
    "abcdefghijkl",
    "0987654321",
]
GOOD = "plum kettle orbit 42"


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_the_list_is_shipped_and_large():
    listed = services.common_passwords()
    assert len(listed) >= 2000
    assert {"password123", "1234567890", "qwertyuiop", "iloveyou", "123456789"} <= listed
    assert TEST_PASSWORD not in listed and "hearth-demo-password" not in listed


@pytest.mark.parametrize("password", COMMON)
def test_the_rule_refuses_common_passwords_whatever_their_case(password):
    with pytest.raises(services.AccountError, match="most common"):
        services.check_password_rules(password)


@pytest.mark.parametrize(
    ("password", "email", "name"),
    [
        ("my name is Ada Lovelace!", "ada@example.com", "Ada Lovelace"),
        ("xx-adalovelace-1815-xx", "adalovelace@example.com", "Countess"),
        ("ADALOVELACE@EXAMPLE.COM", "adalovelace@example.com", "Countess"),
    ],
)
def test_the_rule_refuses_the_persons_own_address_or_name(password, email, name):
    with pytest.raises(services.AccountError, match="email address or your name"):
        services.check_password_rules(password, email, name)


def test_short_parts_and_unrelated_passwords_pass():
    assert services.check_password_rules(GOOD, "al@example.com", "Al") == GOOD
    assert services.check_password_rules(TEST_PASSWORD, "ada@example.com", "Ada") == TEST_PASSWORD


@pytest.mark.parametrize("password", ["password123", "Qwertyuiop", "noor.newcomer 2026!"])
def test_signup_refuses_them(app, client, password):
    response = client.post(
        "/account/signup",
        data={
            "email": "noor.newcomer@example.com",
            "display_name": "Noor",
            "password": password,
            "next": "",
        },
    )
    assert response.status_code == 422
    assert "most common" in _text(response) or "email address or your name" in _text(response)
    with app.app_context():
        assert db.session.execute(select(User)).first() is None


def test_signup_accepts_a_good_one(app, client):
    response = client.post(
        "/account/signup",
        data={"email": "noor@example.com", "display_name": "Noor", "password": GOOD, "next": ""},
    )
    assert response.status_code == 200
    with app.app_context():
        assert db.session.execute(select(User)).scalar_one().email == "noor@example.com"


@pytest.mark.parametrize("password", ["1234567890", "PassWord123", "Sam Sample's secret"])
def test_reset_refuses_them(app, client, make_user, password):
    user = make_user(email="sam@example.com", name="Sam Sample")
    with app.test_request_context():
        token = tokens.make_password_reset_token(db.session.get(User, user.id))
    response = client.post(f"/account/reset-password/{token}", data={"password": password})
    assert response.status_code == 422
    assert "most common" in _text(response) or "email address or your name" in _text(response)
    good = client.post(f"/account/reset-password/{token}", data={"password": GOOD})
    assert good.status_code in (302, 303)  # the refusal did not use up the link


@pytest.mark.parametrize("password", ["qwertyuiop", "QWERTYUIOP123", "the-sam.sample-one"])
def test_change_refuses_them(app, client, login, make_user, password):
    user = make_user(email="sam.sample@example.com", name="Sam Sample")
    login(client, user)
    data = {"password-current_password": TEST_PASSWORD, "password-new_password": password}
    response = client.post("/account/settings/password", data=data)
    assert response.status_code == 422
    assert "most common" in _text(response) or "email address or your name" in _text(response)
    with app.app_context():
        assert db.session.get(User, user.id).password_hash == user.password_hash
    data["password-new_password"] = GOOD
    assert client.post("/account/settings/password", data=data).status_code in (302, 303)
