"""With CSRF on, as in production: the pages' own forms carry a token; forged posts fail."""

from __future__ import annotations

import re

import pytest

from tests.threads.conftest import THREAD, all_posts, page_text, post_id_from, raw_html


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]+)"', page) or re.search(
        rf'type="hidden" name="{name}" value="([^"]+)"', page
    )
    assert match, name
    return match.group(1)


def test_forms_on_the_pages_carry_a_token_and_work(app, course, alice_client):
    page = raw_html(alice_client.get(THREAD))
    data = {
        "body": "With a token",
        "csrf_token": hidden(page, "csrf_token"),
        "idempotency_key": hidden(page, "idempotency_key"),
    }
    post_id = post_id_from(alice_client.post(THREAD + "/posts", data=data))

    edit_page = raw_html(alice_client.get(f"/posts/{post_id}/edit"))
    response = alice_client.post(
        f"/posts/{post_id}/edit",
        data={"body": "Edited with a token", "csrf_token": hidden(edit_page, "csrf_token")},
    )
    assert response.status_code == 303

    delete_page = raw_html(alice_client.get(f"/posts/{post_id}/delete"))
    response = alice_client.post(
        f"/posts/{post_id}/delete", data={"csrf_token": hidden(delete_page, "csrf_token")}
    )
    assert response.status_code == 303
    (post,) = all_posts(app)
    assert post.body_source == "Edited with a token" and post.status == "deleted"


def test_a_post_without_a_token_is_refused_and_the_text_is_given_back(app, course, alice_client):
    response = alice_client.post(
        THREAD + "/posts", data={"body": "My careful words", "idempotency_key": "x" * 24}
    )
    assert response.status_code == 400
    page = page_text(response)
    assert "My careful words</textarea>" in page
    assert all_posts(app) == []
