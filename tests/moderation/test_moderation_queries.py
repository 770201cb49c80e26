"""Fixed statement counts: the review queue and the thread page's "Flag" control."""

from __future__ import annotations

import re

import pytest

from forum.accounts.models import Role
from forum.courses.models import Prompt
from forum.extensions import db
from moderation import services
from tests.moderation.conftest import THREAD, item_of, user, write
from tests.query_count import statements, writes

CSRF = re.compile(r'name="csrf_token"[^>]*>')


@pytest.fixture
def app_config():
    # Every item on one page: a statement per row, per author or per flag would show.
    return {
        "MODERATION_FLAGS_PER_DAY": 1000,
        "POSTS_PER_PAGE": 100,
        "MODERATION_ITEMS_PER_PAGE": 200,
    }


def _flag_posts(app, world, authors, count: int, start: int) -> None:
    """``count`` flagged posts by ``authors`` in turn, in two threads, with three reasons;
    every fourth one claimed by a moderator, and the first one appealed."""
    with app.app_context():
        reporter = user(world.readers[0])
        threads = (world.prompt_id, world.other_prompt_id)
        for n in range(start, start + count):
            post = write(authors[n % len(authors)], threads[n % 2], f"Reflection {n} of many")
            services.flag_post(reporter, post, ("spam", "harassment", "off_topic")[n % 3])
            if n % 4 == 1:
                services.claim_item(user((world.riley, world.sam)[n % 2]), item_of(post))
            if n == 0:
                item = item_of(post)
                services.decide(user(world.riley), item, "hide", "Off topic", item.version)
                services.appeal_item(user(post.author_id), item, "Please look again")
        db.session.commit()


def _count(app, client, url: str) -> tuple[int, str]:
    with statements(app) as seen:
        response = client.get(url)
    assert response.status_code == 200
    assert writes(seen) == []  # a GET never writes
    return len(seen), response.get_data(as_text=True)


def _forget(app, shared_cache: bool = True) -> None:
    """Empty this worker's memory of the queue and (unless told not to) the shared cache."""
    app.extensions.get("moderation_queue_kept", {}).clear()
    if shared_cache:
        app.extensions["hearth_cache"].clear()


def _counts(app, client, url: str) -> tuple[int, int, int, str]:
    """Statements for a page rendered afresh, taken from the shared cache (as another
    worker would) and from this worker's memory; the same page each time."""
    _forget(app)
    cold, page = _count(app, client, url)
    _forget(app, shared_cache=False)
    shared, from_cache = _count(app, client, url)
    warm, again = _count(app, client, url)
    # CSRF tokens carry the second they were made in.
    assert CSRF.sub("", from_cache) == CSRF.sub("", again) == CSRF.sub("", page)
    return cold, shared, warm, page


def test_the_queue_runs_the_same_statements_for_10_and_200_items(app, world, client_for, make_user):
    riley = client_for(world.riley)
    few = [world.author, world.readers[1]]
    _flag_posts(app, world, few, 10, 0)
    cold_10, shared_10, warm_10, page = _counts(app, riley, "/moderation/queue")
    assert page.count('class="moderation-card moderation-item"') == 9  # one was decided
    assert "taken by" in page and "/moderation/appeals/" in page

    many = [make_user(Role.PARTICIPANT, name=f"Writer {n}") for n in range(20)]
    _flag_posts(app, world, many, 190, 10)
    cold_200, shared_200, warm_200, page = _counts(app, riley, "/moderation/queue")
    assert page.count('class="moderation-card moderation-item"') == 199
    assert "Writer 19" in page

    # Rendered: the user, the queue's version, its rows, their count, their flags, the
    # appeals, names and titles. From the shared cache: the user, the version, names and
    # titles. From this worker's memory: the user, the version with names and titles.
    assert cold_10 == cold_200 <= 7
    assert shared_10 == shared_200 <= 3
    assert warm_10 == warm_200 <= 2
    # Filters cost the same.
    with app.app_context():
        module_id = db.session.get(Prompt, world.prompt_id).module_id
    url = f"/moderation/queue?reason=spam&module={module_id}"
    cold, shared, warm, page = _counts(app, riley, url)
    assert page.count('class="moderation-card moderation-item"') == 66
    assert (cold, shared, warm) == (cold_200, shared_200, warm_200)


def test_the_flag_control_adds_no_statement_per_post(app, world, client_for):
    reader = client_for(world.readers[1])
    with app.app_context():
        for n in range(10):
            write(world.author, world.prompt_id, f"Post {n}")
        db.session.commit()
    reader.get(THREAD)  # both counts on a warm page: its page boundaries are cached once
    at_10, _page = _count(app, reader, THREAD)
    with app.app_context():
        for n in range(10, 50):
            write(world.author, world.prompt_id, f"Post {n}")
        db.session.commit()
    page = reader.get(THREAD).get_data(as_text=True)
    assert page.count('/flag"') == 50
    at_50, _page = _count(app, reader, THREAD)
    assert at_10 == at_50
