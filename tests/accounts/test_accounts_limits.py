"""Rate limits on the account forms: per address and per account, in words a person can
act on, behind a reverse proxy, and shared across processes through Redis."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from forum.extensions import limiter
from tests.accounts.conftest import PASSWORD
from tests.accounts.helpers import capture, is_logged_in, path_of, text

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("HEARTH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

LOGIN_LIMITED = (
    "You've tried to log in several times in a short while. Please wait a minute, then try again."
)


WRONG_PASSWORD = "wrong password!"


def _login(client, email, password=WRONG_PASSWORD, address=None):
    environ = {"REMOTE_ADDR": address} if address else {}
    return client.post(
        "/account/login", data={"email": email, "password": password}, environ_base=environ
    )


@pytest.fixture
def fresh_limits(app):
    with app.app_context():
        limiter.reset()
    yield
    with app.app_context():
        limiter.reset()


def _assert_speaks_to_a_person(response, sentence):
    assert response.status_code == 429
    body = text(response)
    assert "Too many attempts" in body
    assert sentence in body
    assert " per " not in body  # never "5 per 1 minute"


# --- per account ----------------------------------------------------------------------


class TestPerAccount:
    @pytest.fixture
    def app_config(self):
        return {
            "RATELIMIT_ENABLED": True,
            "LOGIN_RATE_LIMIT": "100 per minute",
            "LOGIN_ACCOUNT_RATE_LIMIT": "3 per minute;10 per hour",
        }

    @pytest.fixture(autouse=True)
    def _fresh(self, fresh_limits):
        return

    def test_many_addresses_guessing_one_account_are_stopped(
        self, app, participant, make_user, web_login
    ):
        other = make_user(email="other@example.com")
        for n in range(3):
            client = app.test_client()
            assert _login(client, participant.email, address=f"198.51.100.{n}").status_code == 422
        # A fourth address, even with the right password: this account waits.
        client = app.test_client()
        refused = _login(client, participant.email, PASSWORD, address="198.51.100.9")
        _assert_speaks_to_a_person(refused, LOGIN_LIMITED)
        assert not is_logged_in(client)
        # Written differently, it is still the same account.
        assert _login(client, " PAT@Example.COM ", address="198.51.100.10").status_code == 429
        # Another account, from any of those addresses, is not affected.
        ok = _login(app.test_client(), other.email, PASSWORD, address="198.51.100.0")
        assert ok.status_code == 302

    def test_password_checks_in_settings_share_the_accounts_budget(self, app, participant, login):
        client = app.test_client()
        login(client, participant)
        for _ in range(3):
            response = client.post(
                "/account/settings/password",
                data={"password-current_password": "wrong!", "password-new_password": "x" * 12},
            )
            assert response.status_code == 422
        # Guessing at the login form from elsewhere gets no fresh attempts.
        assert _login(app.test_client(), participant.email, address="192.0.2.50").status_code == 429

    def test_the_hourly_limit_says_to_wait_longer(self, app, participant):
        app.config["LOGIN_ACCOUNT_RATE_LIMIT"] = "100 per minute;2 per hour"
        for n in range(2):
            _login(app.test_client(), participant.email, address=f"192.0.2.{n}")
        response = _login(app.test_client(), participant.email, address="192.0.2.99")
        _assert_speaks_to_a_person(
            response,
            "You've tried to log in many times in the last hour. "
            "Please wait up to an hour, then try again.",
        )


# --- the 429 page on each form --------------------------------------------------------


class TestWording:
    @pytest.fixture
    def app_config(self):
        one = "1 per minute"
        return {
            "RATELIMIT_ENABLED": True,
            "LOGIN_RATE_LIMIT": one,
            "LOGIN_ACCOUNT_RATE_LIMIT": "100 per minute",
            "SIGNUP_RATE_LIMIT": one,
            "PASSWORD_RESET_RATE_LIMIT": one,
        }

    @pytest.fixture(autouse=True)
    def _fresh(self, fresh_limits):
        return

    def test_login(self, client):
        _login(client, "a@example.com")
        _assert_speaks_to_a_person(_login(client, "b@example.com"), LOGIN_LIMITED)

    def test_signup(self, client):
        data = {"email": "a@example.com", "display_name": "A", "password": "short"}
        client.post("/account/signup", data=data)
        response = client.post("/account/signup", data=data)
        _assert_speaks_to_a_person(
            response,
            "You've tried to sign up several times in a short while. "
            "Please wait a minute, then try again.",
        )

    def test_resend_confirmation(self, client):
        for _ in range(2):
            response = client.post("/account/signup/resend", data={"email": "a@example.com"})
        _assert_speaks_to_a_person(
            response,
            "You've asked for a new confirmation email several times in a short while. "
            "Please wait a minute, then try again.",
        )

    def test_forgot_password(self, client):
        for _ in range(2):
            response = client.post("/account/forgot-password", data={"email": "a@example.com"})
        _assert_speaks_to_a_person(
            response,
            "You've asked for a password reset email several times in a short while. "
            "Please wait a minute, then try again.",
        )

    def test_reset_password(self, app, participant):
        from forum import signals

        with capture(signals.password_reset_requested) as sent:
            app.test_client().post(
                "/account/forgot-password",
                data={"email": participant.email},
                environ_base={"REMOTE_ADDR": "192.0.2.1"},
            )
        link = path_of(sent[0]["url"])
        client = app.test_client()
        client.post(link, data={"password": "short"})
        response = client.post(link, data={"password": "short"})
        _assert_speaks_to_a_person(
            response,
            "You've tried to choose a new password several times in a short while. "
            "Please wait a minute, then try again.",
        )

    def test_change_password(self, client, participant, login):
        login(client, participant)
        data = {"password-current_password": "wrong!", "password-new_password": "x" * 12}
        client.post("/account/settings/password", data=data)
        _assert_speaks_to_a_person(
            client.post("/account/settings/password", data=data),
            "You've tried to change your password several times in a short while. "
            "Please wait a minute, then try again.",
        )

    def test_change_email(self, client, participant, login):
        login(client, participant)
        data = {"email-new_email": "new@example.com", "email-current_password": "wrong!"}
        client.post("/account/settings/email", data=data)
        _assert_speaks_to_a_person(
            client.post("/account/settings/email", data=data),
            "You've tried to change your email address several times in a short while. "
            "Please wait a minute, then try again.",
        )

    def test_a_limit_without_its_own_sentence_still_speaks_plainly(self, app, client):
        @limiter.limit("1 per minute")
        def _wordless():
            return "ok"

        app.add_url_rule("/__wordless", "wordless", _wordless, methods=["POST"])
        client.post("/__wordless")
        response = client.post("/__wordless")
        assert response.status_code == 429
        assert "Please wait a little before trying again" in text(response)
        assert "1 per 1 minute" not in text(response)


# --- behind a reverse proxy -----------------------------------------------------------


def _proxied_login(client, forwarded_for, email):
    return client.post(
        "/account/login",
        data={"email": email, "password": "wrong password!"},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},  # the proxy
    )


def _add_whoami(app):
    from flask import request

    @app.get("/__whoami")
    def _whoami_view():
        return f"{request.remote_addr} {request.scheme} {request.host}"


def _whoami(client) -> str:
    headers = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
    }
    response = client.get("/__whoami", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    return response.get_data(as_text=True)


class TestBehindOneProxy:
    @pytest.fixture
    def app_config(self):
        return {
            "RATELIMIT_ENABLED": True,
            "TRUSTED_PROXY_HOPS": 1,
            "LOGIN_RATE_LIMIT": "2 per minute",
            "LOGIN_ACCOUNT_RATE_LIMIT": "100 per minute",
        }

    @pytest.fixture(autouse=True)
    def _fresh(self, fresh_limits):
        return

    def test_each_client_behind_the_proxy_has_its_own_limit(self, app):
        first, second = app.test_client(), app.test_client()
        codes = [_proxied_login(first, "203.0.113.1", f"a{n}@example.com") for n in range(3)]
        assert [r.status_code for r in codes] == [422, 422, 429]
        assert _proxied_login(second, "203.0.113.2", "b@example.com").status_code == 422

    def test_address_and_scheme_come_from_the_proxy_but_never_the_host(self, app, client):
        _add_whoami(app)
        assert _whoami(client) == "203.0.113.7 https localhost"


class TestWithoutAProxy:
    @pytest.fixture
    def app_config(self):
        return {
            "RATELIMIT_ENABLED": True,
            "LOGIN_RATE_LIMIT": "2 per minute",
            "LOGIN_ACCOUNT_RATE_LIMIT": "100 per minute",
        }

    @pytest.fixture(autouse=True)
    def _fresh(self, fresh_limits):
        return

    def test_a_spoofed_forwarded_for_header_does_not_dodge_the_limit(self, client):
        codes = [
            _proxied_login(client, f"203.0.113.{n}", f"a{n}@example.com").status_code
            for n in range(3)
        ]
        assert codes == [422, 422, 429]

    def test_forwarded_headers_are_ignored(self, app, client):
        _add_whoami(app)
        assert _whoami(client) == "10.0.0.1 http localhost"


# --- across processes, through Redis ----------------------------------------------------

# Run in a separate Python process: one app, a few login attempts, the status codes as
# JSON. Flask-Limiter's limiter is one object per process, so two apps in this process
# would share its storage whatever the setting: only two processes show what Redis does.
_ATTEMPTS_SCRIPT = """
import json, os, sys
from tests.conftest import make_test_app
config = json.loads(os.environ["HEARTH_TEST_LIMIT_CONFIG"])
app = make_test_app(os.environ["HEARTH_TEST_LIMIT_DB"], **config)
client = app.test_client()
codes = []
for n in range(int(sys.argv[1])):
    response = client.post(
        "/account/login",
        data={"email": "shared@example.com", "password": "wrong password!"},
        environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
    )
    codes.append(response.status_code)
print(json.dumps(codes))
"""


def _attempts_in_another_process(database_url: str, config: dict, count: int) -> list[int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env.pop("DATABASE_URL", None)
    env["HEARTH_TEST_LIMIT_CONFIG"] = json.dumps(config)
    env["HEARTH_TEST_LIMIT_DB"] = database_url
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _ATTEMPTS_SCRIPT, str(count)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def redis_client():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        message = f"Redis is needed at {REDIS_URL} for the shared rate-limit test: {error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client):
    prefix = f"hearth-test-{secrets.token_hex(6)}"
    yield prefix
    for key in redis_client.scan_iter(match=f"*{prefix}*", count=500):
        redis_client.delete(key)


def _shared_config(storage_uri: str, prefix: str) -> dict:
    return {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": storage_uri,
        "RATELIMIT_KEY_PREFIX": prefix,
        "LOGIN_RATE_LIMIT": "100 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": "3 per minute",
    }


def test_two_processes_share_one_count_through_redis(
    _schema, database_url, redis_client, key_prefix
):
    config = _shared_config(REDIS_URL, key_prefix)
    assert _attempts_in_another_process(database_url, config, 2) == [422, 422]
    # The second process starts where the first left off: one more, then refused.
    assert _attempts_in_another_process(database_url, config, 2) == [422, 429]
    assert list(redis_client.scan_iter(match=f"*{key_prefix}*")), "nothing was stored in Redis"


def test_without_redis_the_site_keeps_serving_and_limiting_in_memory(_schema, database_url):
    # Nothing listens on port 1: every call to the storage fails at once.
    config = _shared_config("redis://127.0.0.1:1/0", "hearth-test-unreachable")
    assert _attempts_in_another_process(database_url, config, 5) == [422, 422, 422, 429, 429]
