"""Login, sign-up and password-reset limits hold across several gunicorn workers when
they count in Redis: real gunicorn, 3 workers, every attempt on a fresh connection (so
the attempts spread over the workers); the N+1st is refused with 429."""

from __future__ import annotations

import os
import secrets

import pytest

from tests.load.live import Gunicorn, production_env

REDIS_URL = os.environ.get("HEARTH_TEST_REDIS_URL", "redis://127.0.0.1:6379")
LIMIT = 5


@pytest.fixture
def redis_client():
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        client.ping()
    except Exception as exc:  # no server, no module
        message = f"Redis at {REDIS_URL} is needed for this test: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield client
    client.close()


@pytest.fixture
def server(app, database_url, redis_client):
    """gunicorn with 3 workers on the test database (``app`` empties it afterwards)."""
    prefix = f"hearth-sec-{secrets.token_hex(6)}"
    env = production_env(
        database_url,
        HEARTH_RATELIMIT_STORAGE_URI=REDIS_URL,
        HEARTH_RATELIMIT_KEY_PREFIX=prefix,
        HEARTH_LOGIN_RATE_LIMIT=f"{LIMIT} per minute",
        HEARTH_SIGNUP_RATE_LIMIT=f"{LIMIT} per minute",
        HEARTH_PASSWORD_RESET_RATE_LIMIT=f"{LIMIT} per minute",
        HEARTH_LOGIN_ACCOUNT_RATE_LIMIT="1000 per minute",  # the per-address limit alone
        HEARTH_NOTIFICATIONS_TRANSPORT="file",
    )
    with LoggingGunicorn(env, workers=3) as running:
        running.prefix = prefix
        yield running
    for key in redis_client.scan_iter(f"{prefix}*"):
        redis_client.delete(key)


FORMS = {
    "/account/login": lambda: {"email": f"{secrets.token_hex(4)}@example.com", "password": "no"},
    "/account/signup": lambda: {
        "email": f"{secrets.token_hex(4)}@example.com", "display_name": "X", "password": "short",
    },
    "/account/forgot-password": lambda: {"email": f"{secrets.token_hex(4)}@example.com"},
}  # fmt: skip


class LoggingGunicorn(Gunicorn):
    """Gunicorn with an access log naming the worker (pid) that answered each request."""

    def __enter__(self):
        import subprocess
        import sys

        from tests.load.live import ROOT, wait_for_port

        self.access_log = os.path.join(self._instance.name, "access.log")
        self._log = open(os.path.join(self._instance.name, "gunicorn.log"), "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(self.workers),
             "--bind", f"127.0.0.1:{self.port}", "--timeout", str(self.timeout),
             "--access-logfile", self.access_log, "--access-logformat", "%(p)s %(m)s %(U)s %(s)s",
             "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self._log,
        )  # fmt: skip
        wait_for_port(self.port, self.process)
        return self

    def workers_that_answered(self, method: str, path: str) -> set[str]:
        with open(self.access_log) as log:
            return {
                line.split()[0] for line in log
                if line.split()[1:3] == [method, path]
            }  # fmt: skip


def attempts_at_once(server, path: str, count: int) -> list[int]:
    """``count`` POSTs of ``path``'s form, each from its own browser with its own CSRF
    token, sent at the same moment so that several workers answer them."""
    from concurrent.futures import ThreadPoolExecutor

    browsers = []
    for _ in range(count):
        browser = server.browser()
        page = browser.get(path)
        assert page.status == 200, (path, page.status, server.log()[-2000:])
        browser.close()
        browsers.append((browser, {**FORMS[path](), "csrf_token": page.hidden("csrf_token")}))
    with ThreadPoolExecutor(count) as pool:
        answers = list(pool.map(lambda pair: pair[0].request("POST", path, pair[1]), browsers))
    for browser, _form in browsers:
        browser.close()
    return sorted(answer.status for answer in answers)


def test_limits_hold_across_three_workers(server, redis_client):
    answered_by = set()
    for path in FORMS:
        statuses = attempts_at_once(server, path, LIMIT + 1)
        assert statuses.count(429) == 1, (path, statuses)
        answered_by |= server.workers_that_answered("POST", path)
    assert len(answered_by) >= 2, "one worker answered every attempt: nothing was shown"
    assert any(redis_client.scan_iter(f"*{server.prefix}*")), "nothing was counted in Redis"
    assert "Traceback" not in server.log()


def test_counting_in_each_workers_memory_would_let_more_through(app, database_url):
    """The control that shows the test above can fail: the same attempts against workers
    that each count in their own memory are not all refused at the shared limit."""
    env = production_env(
        database_url,
        HEARTH_RATELIMIT_STORAGE_URI="memory://",
        HEARTH_LOGIN_RATE_LIMIT=f"{LIMIT} per minute",
        HEARTH_LOGIN_ACCOUNT_RATE_LIMIT="1000 per minute",
    )
    with LoggingGunicorn(env, workers=3) as running:
        statuses = attempts_at_once(running, "/account/login", LIMIT + 1)
        spread = len(running.workers_that_answered("POST", "/account/login"))
    if spread < 2:
        pytest.skip("one worker happened to answer every attempt")
    assert 429 not in statuses, statuses
