"""Fixed statement counts: the review queue and the thread page's "Flag" control."""

from __future__ import annotations

import pytest

from forum.extensions import db
from moderation import services
from tests.moderation.conftest import THREAD, user, write
from tests.query_count import statements


@pytest.fixture
def app_config():
    return {"MODERATION_FLAGS_PER_DAY": 1000, "POSTS_PER_PAGE": 100}


def _flag_posts(app, world, count: int, start: int) -> None:
    with app.app_context():
        reporter = user(world.readers[0])
        for n in range(start, start + count):
            post = write(world.author, world.prompt_id, f"Reflection number {n} of many")
            services.flag_post(reporter, post, ("spam", "harassment", "off_topic")[n % 3])
        db.session.commit()


def _count(app, client, url: str) -> int:
    with statements(app) as seen:
        response = client.get(url)
    assert response.status_code == 200
    return len(seen)


def test_the_queue_runs_the_same_statements_for_10_and_200_items(app, world, client_for):
    riley = client_for(world.riley)
    _flag_posts(app, world, 10, 0)
    at_10 = _count(app, riley, "/moderation/queue")
    _flag_posts(app, world, 190, 10)
    at_200 = _count(app, riley, "/moderation/queue")
    assert at_10 == at_200
    assert at_200 <= 12


def test_the_flag_control_adds_no_statement_per_post(app, world, client_for):
    reader = client_for(world.readers[1])
    with app.app_context():
        for n in range(10):
            write(world.author, world.prompt_id, f"Post {n}")
        db.session.commit()
    reader.get(THREAD)  # both counts on a warm page: its page boundaries are cached once
    at_10 = _count(app, reader, THREAD)
    with app.app_context():
        for n in range(10, 50):
            write(world.author, world.prompt_id, f"Post {n}")
        db.session.commit()
    page = reader.get(THREAD).get_data(as_text=True)
    assert page.count('/flag"') == 50
    at_50 = _count(app, reader, THREAD)
    assert at_10 == at_50
