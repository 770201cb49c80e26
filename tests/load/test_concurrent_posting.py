"""Several gunicorn workers posting to one thread at once: no "database is locked", no
lost post counts. Bounded in count (PEOPLE x POSTS_EACH requests) and in time."""

from __future__ import annotations

import http.client
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from forum.courses import DEMO_COURSE_FILE
from forum.courses.models import Prompt
from forum.courses.services import import_course, read_course_file
from forum.extensions import db
from forum.threads.models import Post

PEOPLE = 6
POSTS_EACH = 15
WORKERS = 3
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("gunicorn did not start")


@pytest.mark.slow
def test_many_workers_posting_to_one_thread_lose_nothing(app, database_url, make_user):
    with app.app_context():
        course = import_course(read_course_file(DEMO_COURSE_FILE)).course
        db.session.commit()
        module = course.modules[0]
        prompt = module.prompts[0]
        path = f"/c/{course.slug}/{module.slug}/{prompt.slug}/posts"
        prompt_id = prompt.id
        serializer = app.session_interface.get_signing_serializer(app)
    cookies = []
    for _ in range(PEOPLE):
        user = make_user()
        cookies.append(serializer.dumps({"_user_id": user.get_id(), "_fresh": True}))

    port = _free_port()
    env = {
        **os.environ,
        "HEARTH_ENV": "testing",
        "HEARTH_SECRET_KEY": app.config["SECRET_KEY"],
        "HEARTH_SQLALCHEMY_DATABASE_URI": database_url,
        "HEARTH_WTF_CSRF_ENABLED": "false",
        "HEARTH_RATELIMIT_ENABLED": "false",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--bind",
         f"127.0.0.1:{port}", "--timeout", "60", "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_for(port, server)

        def post_all(cookie: str) -> list[int]:
            statuses = []
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for n in range(POSTS_EACH):
                body = urllib.parse.urlencode(
                    {"body": f"Reflection {n} {secrets.token_hex(4)}",
                     "idempotency_key": secrets.token_urlsafe(24)}
                )  # fmt: skip
                connection.request(
                    "POST",
                    path,
                    body=body,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Cookie": f"session={cookie}",
                    },
                )
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
            connection.close()
            return statuses

        with ThreadPoolExecutor(max_workers=PEOPLE) as pool:
            results = list(pool.map(post_all, cookies, timeout=120))
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)

    statuses = [status for result in results for status in result]
    assert statuses == [303] * (PEOPLE * POSTS_EACH), stderr.decode()[-2000:]
    assert b"database is locked" not in stderr
    with app.app_context():
        stored = db.session.execute(
            db.select(db.func.count(Post.id)).filter_by(prompt_id=prompt_id)
        ).scalar_one()
        counted = db.session.get(Prompt, prompt_id).post_count
    assert stored == counted == PEOPLE * POSTS_EACH
