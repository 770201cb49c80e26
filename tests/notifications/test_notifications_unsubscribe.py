"""One-click unsubscribe: GET asks, POST acts without login, cookie or CSRF token."""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
import uuid

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from forum.extensions import db
from notifications.models import NotificationPreference, Subscription, UnsubscribeToken
from tests.notifications.helpers import UNSUB_RE, post_as, subscribe, work


@pytest.fixture
def mailed(app, course, people, smtp_sink):
    """Bea watches the thread and got one email; returns (ids, her List-Unsubscribe URL)."""
    ids = {k: u.id for k, u in people.items()}
    with app.app_context():
        subscribe([ids["bea"], ids["cal"]], prompt_id=course.prompt_id)
        db.session.commit()
        post_as(ids["author"], course.prompt_id, "First.")
    work(app)
    [url] = UNSUB_RE.findall(smtp_sink.to("bea@example.com")[0].raw)
    return ids, url.decode()


def _path(url: str) -> str:
    return url.removeprefix("https://hearth.test")


def _bea_mode(app, ids, course):
    with app.app_context():
        return db.session.execute(
            select(Subscription.mode).filter_by(user_id=ids["bea"], prompt_id=course.prompt_id)
        ).scalar_one()


def _post_again_and_deliver(app, ids, course, smtp_sink) -> list[str]:
    before = len(smtp_sink.received)
    with app.app_context():
        post_as(ids["author"], course.prompt_id, "Second.")
    work(app)
    return sorted(r.rcpt_tos[0] for r in smtp_sink.received[before:])


def test_get_shows_a_confirmation_and_changes_nothing(app, course, mailed):
    ids, url = mailed
    client = app.test_client()
    response = client.get(_path(url))
    assert response.status_code == 200
    assert b"A first memory" in response.data
    assert b'method="post"' in response.data
    assert _bea_mode(app, ids, course) == "watching"
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_cookieless_one_click_post_unsubscribes_and_next_post_skips_her(
    app, course, mailed, smtp_sink, encoding
):
    ids, url = mailed
    client = app.test_client()  # fresh: no cookies, no session, no CSRF token
    if encoding == "urlencoded":
        response = client.post(
            _path(url),
            data="List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
    else:
        response = client.post(
            _path(url),
            data={"List-Unsubscribe": "One-Click"},
            content_type="multipart/form-data",
        )
        assert response.request.content_type.startswith("multipart/form-data; boundary=")
    assert response.status_code == 200
    assert b"unsubscribed" in response.data
    assert b"Undo" in response.data
    assert _bea_mode(app, ids, course) == "muted"
    assert _post_again_and_deliver(app, ids, course, smtp_sink) == ["cal@example.com"]


def test_plain_http_client_with_no_cookies_against_a_real_server(app, course, mailed, smtp_sink):
    """What a mail provider does: an HTTPS POST from a script, here over real HTTP."""
    ids, url = mailed
    app.config["RATELIMIT_ENABLED"] = False
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        target = f"http://127.0.0.1:{server.server_port}{_path(url)}"
        boundary = uuid.uuid4().hex
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
            f"One-Click\r\n--{boundary}--\r\n"
        ).encode()
        request = urllib.request.Request(
            target,
            data=body,
            method="POST",
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 200
            assert response.url == target  # answered in place, never redirected
    finally:
        server.shutdown()
        thread.join(timeout=10)
    assert _bea_mode(app, ids, course) == "muted"
    assert _post_again_and_deliver(app, ids, course, smtp_sink) == ["cal@example.com"]


def test_double_post_is_idempotent_and_undo_restores(app, course, mailed, smtp_sink):
    ids, url = mailed
    client = app.test_client()
    first = client.post(_path(url), data={"List-Unsubscribe": "One-Click"})
    second = client.post(_path(url), data={"List-Unsubscribe": "One-Click"})
    assert first.status_code == second.status_code == 200
    assert _bea_mode(app, ids, course) == "muted"
    undo = client.post(_path(url) + "/undo")
    assert undo.status_code == 200
    assert b"subscribed again" in undo.data
    assert _bea_mode(app, ids, course) == "watching"
    assert _post_again_and_deliver(app, ids, course, smtp_sink) == [
        "bea@example.com",
        "cal@example.com",
    ]
    again = client.post(_path(url) + "/undo")
    assert again.status_code == 200
    assert b"Nothing to undo" in again.data


def test_all_discussion_link_turns_discussion_email_off(app, course, mailed, smtp_sink):
    ids, _url = mailed
    with app.app_context():
        token = db.session.execute(
            select(UnsubscribeToken.token).filter_by(user_id=ids["bea"], scope="all_discussion")
        ).scalar_one()
    text = smtp_sink.to("bea@example.com")[0].text
    assert f"https://hearth.test/u/{token}" in text
    response = app.test_client().post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with app.app_context():
        assert db.session.get(NotificationPreference, ids["bea"]).delivery == "none"
    assert _post_again_and_deliver(app, ids, course, smtp_sink) == ["cal@example.com"]


def test_unknown_and_tampered_tokens_get_the_same_generic_answers(app, course, mailed):
    ids, url = mailed
    token = url.rsplit("/", 1)[1]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    client = app.test_client()
    answers = set()
    for bad in (tampered, "x" * 22, "short", "%0d%0aSet-Cookie:%20x=1", "a" * 300):
        got = client.post(f"/u/{bad}", data={"List-Unsubscribe": "One-Click"})
        seen = client.get(f"/u/{bad}")
        # The pages differ only where they echo their own address (the login link's next=).
        strip = re.compile(rb"/u/[^\"&]*")
        answers.add(
            (got.status_code, strip.sub(b"", got.data), seen.status_code, strip.sub(b"", seen.data))
        )
        assert "x=1" not in got.headers.get("Set-Cookie", "")
    assert len(answers) == 1
    post_status, post_body, get_status, _get_body = answers.pop()
    assert post_status == 200 and b"If this link was valid" in post_body
    assert get_status == 404
    assert _bea_mode(app, ids, course) == "watching"


def test_rate_limited_client_gets_a_429_page(other_app, app, course, mailed):
    _ids, url = mailed
    limited = other_app(RATELIMIT_ENABLED=True, NOTIFICATIONS_UNSUBSCRIBE_RATE_LIMIT="3 per minute")
    client = limited.test_client()
    codes = [client.get(_path(url)).status_code for _ in range(4)]
    codes.append(client.post(_path(url), data={"List-Unsubscribe": "One-Click"}).status_code)
    assert codes == [200, 200, 200, 429, 429]
    page = client.get(_path(url))
    assert b"Too many unsubscribe requests" in page.data
    # Another address's link from the same client is counted on its own.
    other = client.get("/u/" + "z" * 22)
    assert other.status_code == 404
