"""Cookies: HttpOnly and SameSite everywhere; in production Secure and the __Host- prefix
(Path=/, no Domain), for the session and the remember-me cookie alike."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_PASSWORD, make_test_app


def _set_cookies(response) -> dict[str, list[str]]:
    """name -> lower-cased attributes of each Set-Cookie header."""
    found = {}
    for header in response.headers.getlist("Set-Cookie"):
        name = header.split("=", 1)[0]
        found[name] = [part.strip().lower() for part in header.split(";")[1:]]
    return found


def _log_in_with_remember(app, make_user):
    user = make_user()
    client = app.test_client()
    response = client.post(
        "/account/login",
        data={"email": user.email, "password": TEST_PASSWORD, "remember": "y", "next": ""},
    )
    assert response.status_code in (302, 303), response.status_code
    return _set_cookies(response)


def test_production_cookies_carry_the_host_prefix(database_url, _schema, make_user):
    app = make_test_app(database_url, ENV="production")
    cookies = _log_in_with_remember(app, make_user)
    assert set(cookies) == {"__Host-hearth_session", "__Host-remember"}, cookies
    for name, attributes in cookies.items():
        assert "secure" in attributes, name
        assert "httponly" in attributes, name
        assert "samesite=lax" in attributes, name
        assert "path=/" in attributes, name
        assert not [a for a in attributes if a.startswith("domain=")], name


def test_production_logout_deletes_the_prefixed_remember_cookie(database_url, _schema, make_user):
    app = make_test_app(database_url, ENV="production")
    user = make_user()
    client = app.test_client()
    client.post(
        "/account/login",
        data={"email": user.email, "password": TEST_PASSWORD, "remember": "y", "next": ""},
    )
    response = client.post("/account/logout")
    deleted = _set_cookies(response).get("__Host-remember")
    assert deleted is not None and "expires=thu, 01 jan 1970 00:00:00 gmt" in deleted


@pytest.mark.parametrize("env", ["development", "testing"])
def test_plain_http_environments_keep_plain_cookie_names(database_url, _schema, make_user, env):
    app = make_test_app(database_url, ENV=env)
    cookies = _log_in_with_remember(app, make_user)
    assert set(cookies) == {"session", "remember_token"}, cookies
    for name, attributes in cookies.items():
        assert "secure" not in attributes, name  # http://127.0.0.1 would drop them
        assert "httponly" in attributes and "samesite=lax" in attributes, name


def test_an_operator_named_domain_keeps_a_plain_name(database_url, _schema):
    """__Host- cookies may carry no Domain; with one set, the prefix would lock everyone out."""
    app = make_test_app(database_url, ENV="production", SESSION_COOKIE_DOMAIN="example.org")
    assert app.config["SESSION_COOKIE_NAME"] == "session"
    assert app.config["REMEMBER_COOKIE_NAME"] == "__Host-remember"
