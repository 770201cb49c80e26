"""Long threads: pages of POSTS_PER_PAGE posts, and permalinks that land on the right one."""

from __future__ import annotations

import re

import pytest

from tests.threads.conftest import THREAD, page_text, post_id_from, post_reflection, raw_html


@pytest.fixture
def app_config():
    return {"POSTS_PER_PAGE": 2}


@pytest.fixture
def five_posts(course, alice_client):
    return [
        post_id_from(post_reflection(alice_client, f"Reflection {n}", key=f"page-key-{n:010d}"))
        for n in range(5)
    ]


def test_posts_are_split_over_pages_oldest_first(client, five_posts):
    pages = [page_text(client.get(f"{THREAD}?page={n}")) for n in (1, 2, 3)]
    assert "Reflection 0" in pages[0] and "Reflection 1" in pages[0]
    assert "Reflection 2" not in pages[0]
    assert "Reflection 2" in pages[1] and "Reflection 3" in pages[1]
    assert "Reflection 4" in pages[2]
    assert client.get(f"{THREAD}?page=4").status_code == 404


def test_pagination_nav_is_labelled_and_marks_the_current_page(client, five_posts):
    page = raw_html(client.get(f"{THREAD}?page=2"))
    assert re.search(r'<nav class="pagination" aria-label="Thread pages">', page)
    assert f'href="{THREAD}?page=2" aria-current="page"' in page
    # Page 1 is the thread's own address, without ?page=1.
    assert f'rel="prev" href="{THREAD}"' in page
    assert f'rel="next" href="{THREAD}?page=3"' in page
    assert 'aria-current="page"' not in page.split('aria-label="Thread pages">')[1].split("</nav>")[
        0
    ].replace(f'href="{THREAD}?page=2" aria-current="page"', "")


def test_permalink_to_a_post_on_page_two(client, five_posts):
    third = five_posts[2]
    response = client.get(f"/posts/{third}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"{THREAD}?page=2#post-{third}"
    landed = client.get(response.headers["Location"])
    assert f'id="post-{third}"' in page_text(landed)


def test_deleted_posts_keep_their_place_on_the_page(client, alice_client, five_posts):
    alice_client.post(f"/posts/{five_posts[0]}/delete")
    assert client.get(f"/posts/{five_posts[2]}").headers["Location"].endswith("?page=2#post-3")
    assert "This reflection was deleted by its author." in page_text(client.get(THREAD))


def test_a_single_page_thread_has_no_pagination(client, course, alice_client):
    post_reflection(alice_client, "Alone")
    assert 'class="pagination"' not in raw_html(client.get(THREAD))
