"""Redis stopped under a running site: pages and forms still answer (rate limits count in
each process's memory meanwhile, and never turn into error pages), and limits are counted
in Redis again once it is back.

It runs a redis-server of its own on a free loopback port: the shared one is never touched.
"""

from __future__ import annotations

import time

import pytest

from forum.cache import PREFIX as PAGE_CACHE_PREFIX
from forum.courses.services import import_course
from forum.extensions import db
from tests.conftest import TEST_PASSWORD
from tests.course_data import SMALL_COURSE
from tests.faults.servers import PrivateRedis, wait_until
from tests.load.live import Gunicorn, production_env

THREAD = "/c/allyship/noticing/first-memory"
# With Redis gone, a request may wait for its connect timeout (2 s, forum/config.py).
ANSWER_WITHIN = 5


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _keys(redis_server, pattern: str) -> list[bytes]:
    client = redis_server.client()
    try:
        return client.keys(pattern)
    finally:
        client.close()


def _limit_keys(redis_server) -> list[bytes]:
    return _keys(redis_server, "LIMITS:*")


def _cache_keys(redis_server) -> list[bytes]:
    return _keys(redis_server, PAGE_CACHE_PREFIX + "*")


@pytest.mark.slow
def test_redis_down_pages_still_serve_and_limits_return_with_it(
    app, database_url, make_user, private_redis
):
    with app.app_context():
        import_course(SMALL_COURSE)
        db.session.commit()
    user = make_user()
    env = production_env(
        database_url,
        HEARTH_RATELIMIT_STORAGE_URI=private_redis.url,
        HEARTH_CACHE_URL=private_redis.url,  # the page cache, for anonymous readers
        # The test logs in a few dozen times in a minute; the limits are still counted.
        HEARTH_LOGIN_RATE_LIMIT="1000 per minute",
        HEARTH_LOGIN_ACCOUNT_RATE_LIMIT="1000 per minute",
        HEARTH_POST_RATE_LIMIT="1000 per minute",
    )

    with Gunicorn(env, workers=2) as server:
        person = server.browser()
        assert person.login(user.email, TEST_PASSWORD).status == 302
        csrf_token, _ = person.post_form(THREAD)
        assert person.post(THREAD, "With Redis up.", csrf_token).status == 303
        assert _limit_keys(private_redis), "limits should be counted in Redis"
        anonymous = server.browser()
        assert anonymous.get(THREAD).status == 200, server.log()[-3000:]
        assert _cache_keys(private_redis), "the page should be cached in Redis"

        private_redis.stop()  # killed: connections refused from now on
        down = []
        for n in range(4):  # enough to reach both workers
            stranger = server.browser()
            page = stranger.get(THREAD)  # anonymous: through the page cache
            wrong = stranger.login(user.email, "not the password")
            right = server.browser().login(user.email, TEST_PASSWORD)
            posted = person.post(THREAD, f"With Redis down, {n}.", csrf_token)
            down += [
                ("GET thread", page.status, page.seconds),
                ("POST login, wrong password", wrong.status, wrong.seconds),
                ("POST login", right.status, right.seconds),
                ("POST post", posted.status, posted.seconds),
            ]
        statuses = [(what, status) for what, status, _ in down]
        expected = [
            ("GET thread", 200),
            ("POST login, wrong password", 422),
            ("POST login", 302),
            ("POST post", 303),
        ]
        assert statuses == expected * 4, down
        assert max(seconds for _, _, seconds in down) < ANSWER_WITHIN, down

        private_redis.start()  # the same port, empty
        assert _limit_keys(private_redis) == _cache_keys(private_redis) == []

        probes = iter(range(1000))

        def counted_in_redis():
            # Flask-Limiter looks for its storage again with a growing back-off (2^n s);
            # the page cache rests a few seconds after an error. A new post each time: a
            # worker replays the page it already has (forum/front_cache.py) until the
            # thread changes, without asking the shared cache.
            n = next(probes)
            assert person.post(THREAD, f"Is Redis back? {n}", csrf_token).status == 303
            stranger = server.browser()
            assert stranger.get(THREAD).status == 200
            attempt = stranger.login(user.email, "not the password")
            assert attempt.status == 422, attempt.status
            return _limit_keys(private_redis) and _cache_keys(private_redis)

        started = time.monotonic()
        keys = wait_until(counted_in_redis, timeout=45, interval=0.5)
        back_after = time.monotonic() - started
    stderr = server.stderr.decode(errors="replace")

    assert keys, f"Redis was not used again within 45 s\n{stderr[-2000:]}"
    assert " 500 " not in stderr and "Internal Server Error" not in stderr
    print(f"limits and page cache in Redis again after {back_after:.1f} s")
