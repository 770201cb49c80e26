"""Account flows against an attacker: open redirects through ``next``, answers that don't
tell known from unknown addresses, emailed links that ignore the Host header, and
captured cookies that stop working (production cookie names)."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin, urlsplit

import pytest

from forum import signals
from forum.accounts.models import Role
from tests.accounts.helpers import capture, path_of
from tests.conftest import TEST_PASSWORD, make_test_app

SITE = "https://hearth.test/"
OPEN_REDIRECTS = [
    "//evil.example",
    "///evil.example",
    "////evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https:evil.example",
    "https:/evil.example",
    "https://evil.example",
    "HTTPS://evil.example",
    "http://hearth.test@evil.example",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "%5C%5Cevil.example",
    "\t//evil.example",
    "\n//evil.example",
    " //evil.example",
    "/\t/evil.example",
    "/\r\n/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example%2F@hearth.test",
    "/..//evil.example",
    "/.//evil.example",
    "//%09/evil.example",
    "〱evil.example",
    "\uff0f\uff0fevil.example",  # fullwidth solidus, which some parsers fold to "/"
    "/ /evil.example",
    "evil.example",
]


def lands_inside_the_site(location: str) -> bool:
    """Whether a browser following ``location`` from a page of the site stays on it
    (browsers read backslashes as slashes and drop tabs and newlines from URLs)."""
    if any(ord(ch) < 32 for ch in location.strip(" ")) and location.strip() != location:
        return False
    browser = re.sub(r"[\t\r\n]", "", location).replace("\\", "/").strip()
    target = urlsplit(urljoin(SITE + "account/login", browser))
    return target.scheme == "https" and target.netloc == "hearth.test"


def test_the_check_can_fail():
    assert not lands_inside_the_site("//evil.example")
    assert not lands_inside_the_site("/\\evil.example")
    assert (
        not lands_inside_the_site("https:evil.example")
        or urlsplit(urljoin(SITE, "https:evil.example")).netloc == "hearth.test"
    )
    assert not lands_inside_the_site("javascript:alert(1)")
    assert lands_inside_the_site("/account/settings")


@pytest.mark.parametrize("hostile", OPEN_REDIRECTS)
def test_open_redirects_through_login(client, make_user, hostile):
    user = make_user()
    response = client.post(
        "/account/login", data={"email": user.email, "password": TEST_PASSWORD, "next": hostile}
    )
    assert response.status_code in (302, 303)
    assert lands_inside_the_site(response.headers["Location"]), response.headers["Location"]
    # The login page itself, for a reader already logged in, sends them on.
    again = client.get("/account/login", query_string={"next": hostile})
    assert again.status_code in (302, 303)
    assert lands_inside_the_site(again.headers["Location"]), again.headers["Location"]
    page = client.application.test_client().get("/account/login", query_string={"next": hostile})
    kept = re.search(r'name="next" type="hidden" value="([^"]*)"', page.get_data(as_text=True))
    assert kept is not None
    assert not kept.group(1) or lands_inside_the_site(html.unescape(kept.group(1)))


@pytest.mark.parametrize("hostile", OPEN_REDIRECTS)
def test_open_redirects_through_signup_and_its_confirmation_link(client, hostile):
    with capture(signals.signup_confirmation_requested) as sent:
        response = client.post(
            "/account/signup",
            data={
                "email": "newcomer@example.com",
                "display_name": "Newcomer",
                "password": "plum kettle orbit 42",
                "next": hostile,
            },
        )
    assert response.status_code == 200
    confirmed = client.post(path_of(sent[0]["url"]))
    assert confirmed.status_code in (302, 303)
    assert lands_inside_the_site(confirmed.headers["Location"]), confirmed.headers["Location"]


# --- known and unknown addresses get byte-identical answers -------------------------------

CSRF_FIELD = re.compile(rb'(name="(?:[\w-]+-)?csrf_token" type="hidden" value=")[^"]*(")')


@pytest.fixture
def csrf_app(database_url, _schema):
    return make_test_app(database_url, WTF_CSRF_ENABLED=True)


def _post_form(app, path: str, data: dict) -> bytes:
    client = app.test_client()
    page = client.get(path)
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data)
    assert token, path
    response = client.post(path, data={**data, "csrf_token": token.group(1).decode()})
    assert response.status_code == 200, (path, response.status_code)
    return CSRF_FIELD.sub(rb"\1\2", response.data)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/account/signup", {"display_name": "Someone", "password": "plum kettle orbit 42"}),
        ("/account/forgot-password", {}),
        ("/account/signup/resend", {}),
    ],
)
def test_known_and_unknown_addresses_get_byte_identical_answers(csrf_app, make_user, path, data):
    make_user(Role.PARTICIPANT, email="known@example.com")
    with csrf_app.app_context():
        from forum.accounts.services import request_signup

        request_signup("pending@example.com", "Pending", "plum kettle orbit 42")
        from forum.extensions import db

        db.session.commit()
    bodies = {
        who: _post_form(csrf_app, path, {**data, "email": address})
        for who, address in (
            ("known", "known@example.com"),
            ("known, other case", "KNOWN@Example.com"),
            ("unconfirmed", "pending@example.com"),
            ("unknown", "nobody-here@example.com"),
        )
    }
    assert len(set(bodies.values())) == 1, {k: len(v) for k, v in bodies.items()}


# --- emailed links ignore the Host header -------------------------------------------------

EVIL_HEADERS = {
    "Host": "evil.example",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "http",
    "Forwarded": "host=evil.example;proto=http",
}


def _only_base_url(url: str) -> None:
    assert url.startswith("https://hearth.test/"), url
    assert "evil" not in url


def test_reset_and_confirmation_links_ignore_the_host_header(client, make_user):
    user = make_user(email="known@example.com")
    with capture(signals.password_reset_requested) as resets:
        client.post("/account/forgot-password", data={"email": user.email}, headers=EVIL_HEADERS)
    with capture(signals.signup_confirmation_requested) as confirms:
        client.post(
            "/account/signup",
            data={
                "email": "new@example.com",
                "display_name": "New",
                "password": "plum kettle orbit 42",
            },
            headers=EVIL_HEADERS,
        )
        client.post(
            "/account/signup/resend", data={"email": "new@example.com"}, headers=EVIL_HEADERS
        )
    with capture(signals.signup_attempted_for_existing_account) as existing:
        client.post(
            "/account/signup",
            data={"email": user.email, "display_name": "X", "password": "plum kettle orbit 42"},
            headers=EVIL_HEADERS,
        )
    assert len(resets) == 1 and len(confirms) == 2 and len(existing) == 1
    for sent in resets + confirms:
        _only_base_url(sent["url"])
    _only_base_url(existing[0]["login_url"])
    _only_base_url(existing[0]["reset_url"])


def test_links_ignore_the_host_header_behind_a_trusted_proxy_too(database_url, _schema, make_user):
    app = make_test_app(database_url, TRUSTED_PROXY_HOPS=1)
    user = make_user(email="known@example.com")
    with capture(signals.password_reset_requested) as resets:
        app.test_client().post(
            "/account/forgot-password", data={"email": user.email}, headers=EVIL_HEADERS
        )
    _only_base_url(resets[0]["url"])


# --- captured cookies stop working (production names) ------------------------------------


def _cookie_jar(client) -> dict[str, str]:
    return {c.key: c.value for c in client._cookies.values()}


@pytest.mark.parametrize("ending", ["logout", "password change"])
def test_a_captured_production_session_stops_working(database_url, _schema, make_user, ending):
    app = make_test_app(database_url, ENV="production")
    user = make_user()
    client = app.test_client()
    client.post(
        "/account/login",
        data={"email": user.email, "password": TEST_PASSWORD, "remember": "y", "next": ""},
    )
    captured = _cookie_jar(client)
    assert {"__Host-hearth_session", "__Host-remember"} <= set(captured)
    assert client.get("/account/settings").status_code == 200
    if ending == "logout":
        client.post("/account/logout")
    else:
        other = app.test_client()
        other.post("/account/login", data={"email": user.email, "password": TEST_PASSWORD})
        changed = other.post(
            "/account/settings/password",
            data={
                "password-current_password": TEST_PASSWORD,
                "password-new_password": "plum kettle orbit 42",
            },
        )
        assert changed.status_code in (302, 303)
    for kept in (["__Host-hearth_session"], ["__Host-remember"], list(captured)):
        thief = app.test_client()
        for name in kept:
            thief.set_cookie(name, captured[name], domain="localhost", secure=True)
        response = thief.get("/account/settings")
        assert response.status_code == 302 and "/account/login" in response.headers["Location"], (
            kept
        )
