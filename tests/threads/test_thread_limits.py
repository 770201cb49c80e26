"""Posting under pressure: oversized requests and rate limits get the site's own pages."""

from __future__ import annotations

import pytest

from tests.threads.conftest import THREAD, all_posts, page_text, post_reflection


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": True, "POST_RATE_LIMIT": "3 per minute"}


def test_a_request_over_the_size_limit_is_a_friendly_413(app, course, alice_client):
    response = post_reflection(alice_client, "x" * (app.config["MAX_CONTENT_LENGTH"] + 1))
    assert response.status_code == 413
    page = page_text(response)
    assert "That was too large to accept" in page
    assert "skip-link" in page
    assert all_posts(app) == []


def test_posting_too_fast_is_a_friendly_429(app, course, alice_client):
    statuses = [
        post_reflection(alice_client, f"Post {n}", key=f"rate-key-{n:010d}").status_code
        for n in range(4)
    ]
    assert statuses == [303, 303, 303, 429]
    response = post_reflection(alice_client, "One more", key="rate-key-final-0000")
    assert response.status_code == 429
    page = page_text(response)
    assert "Too many attempts" in page
    assert "Please wait a minute" in page
    assert len(all_posts(app)) == 3


def test_reading_is_not_rate_limited_by_posting(client, alice_client, course):
    for n in range(4):
        post_reflection(alice_client, f"Post {n}", key=f"read-key-{n:010d}")
    assert alice_client.get(THREAD).status_code == 200
    assert client.get(THREAD).status_code == 200


def test_only_marked_reads_skip_the_limiter(app, course, alice_client):
    # @unlimited_read views skip the limiter's bookkeeping on GET and HEAD; writing to
    # the same thread is still counted (the 429 above), and a GET elsewhere still is too.
    from forum.extensions import _unlimited_reads

    cases = [
        ("GET", "/c/allyship/noticing/first-memory", True),
        ("HEAD", "/c/allyship", True),
        ("POST", "/c/allyship/noticing/first-memory/posts", False),
        ("GET", "/c/allyship/noticing/first-memory/posts", False),
        ("GET", "/account/login", False),
    ]
    for method, path, skipped in cases:
        with app.test_request_context(path, method=method):
            assert _unlimited_reads() is skipped, (method, path)
