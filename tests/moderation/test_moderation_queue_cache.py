"""The review queue is cached per data version and shared by moderators and workers: a
change made in one worker is in the next page read from another, and what changes outside
moderation (names, claims running out) is never read from the cache."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest

from forum.accounts.services import change_display_name
from forum.database import utcnow
from forum.extensions import db
from moderation import services
from moderation.models import QueueVersion
from tests.conftest import make_test_app
from tests.moderation.conftest import item_of, user, write
from tests.query_count import statements


@pytest.fixture
def app_config(tmp_path):
    # One cache file for both workers, as gunicorn's workers share one on a host.
    return {"CACHE_URL": f"sqlite:///{tmp_path / 'page-cache.sqlite3'}"}


@pytest.fixture
def other_worker(database_url, app_config):
    """A second app on the same database and cache: another gunicorn worker."""
    other = make_test_app(database_url, **app_config)

    def _client(account):
        client = other.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = account.get_id()
            session["_fresh"] = True
        return client

    return _client


def queue_of(client, url: str = "/moderation/queue") -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def version_of(app) -> int | None:
    with app.app_context():
        return db.session.execute(db.select(QueueVersion.version)).scalar_one_or_none()


def flagged(app, world, body: str, reason: str = "spam") -> tuple[int, int]:
    with app.app_context():
        post = write(world.author, world.prompt_id, body)
        services.flag_post(user(world.readers[0]), post, reason)
        db.session.commit()
        return post.id, item_of(post).id


def test_a_change_in_one_worker_is_in_the_next_page_from_another(
    app, world, client_for, other_worker
):
    _post, first = flagged(app, world, "The first reflection")
    assert version_of(app) is not None
    riley = client_for(world.riley)
    assert f"/moderation/items/{first}" in queue_of(riley)
    with statements(app) as seen:
        again = queue_of(riley)
    assert f"/moderation/items/{first}" in again
    assert len(seen) == 2  # kept: the user, the queue's version with names and titles
    assert f"/moderation/items/{first}" in queue_of(other_worker(world.sam))  # shared

    # A reader flags a post in the other worker: the cached page is not served again.
    with app.app_context():
        post_id = write(world.author, world.prompt_id, "An advert for shoes").id
        db.session.commit()
    assert "An advert for shoes" not in queue_of(riley)
    reader = other_worker(world.readers[1])
    assert reader.post(f"/posts/{post_id}/flag", data={"reason": "spam"}).status_code == 303
    assert "An advert for shoes" in queue_of(riley)

    # Sam takes the first item in the other worker: Riley sees who, Sam sees "you".
    sam_elsewhere = other_worker(world.sam)
    assert sam_elsewhere.post(f"/moderation/items/{first}/claim").status_code == 303
    assert "taken by Sam" in queue_of(riley)
    assert "taken by you" in queue_of(client_for(world.sam))

    # Sam decides it in the other worker: it leaves the pending queue everywhere.
    with app.app_context():
        version = services.get_item(first).version
    decided = sam_elsewhere.post(
        f"/moderation/items/{first}/decide",
        data={"action": "remove", "reason": "Spam", "version": str(version)},
    )
    assert decided.status_code == 303
    assert f"/moderation/items/{first}" not in queue_of(riley)
    assert f"/moderation/items/{first}" in queue_of(riley, "/moderation/queue?state=removed")

    # The author appeals in the other worker: the appeal is listed.
    author = other_worker(world.author)
    appealed = author.post(
        f"/moderation/items/{first}/appeal", data={"message": "It was not an advert"}
    )
    assert appealed.status_code == 303
    assert "Appeal from Ada Author" in queue_of(riley)


def test_names_and_claims_are_never_read_from_the_cache(app, world, client_for, monkeypatch):
    _post, item_id = flagged(app, world, "A reflection on rooms")
    with app.app_context():
        services.claim_item(user(world.sam), services.get_item(item_id))
        db.session.commit()
    riley = client_for(world.riley)
    page = queue_of(riley)
    assert "Ada Author" in page and "taken by Sam" in page
    before = version_of(app)

    with app.app_context():
        change_display_name(user(world.author), "Ada <Renamed>")
        change_display_name(user(world.sam), "Samira")
        db.session.commit()
    assert version_of(app) == before  # nothing in moderation changed
    page = queue_of(riley)
    assert "Ada <Renamed>" in page and "Ada Author" not in page
    assert "taken by Samira" in page
    assert "&lt;Renamed&gt;" in riley.get("/moderation/queue").get_data(as_text=True)

    # The claim runs out with no change to the data: the page says so at once.
    later = utcnow() + timedelta(minutes=11)
    monkeypatch.setattr("moderation.queue_cache.utcnow", lambda: later)
    assert "taken by" not in queue_of(riley)


def test_only_transactions_that_change_the_queue_bump_its_version(app, world):
    flagged(app, world, "Something to review")
    start = version_of(app)
    assert start is not None
    with app.app_context():
        write(world.author, world.prompt_id, "An ordinary reply")  # not held, not flagged
        with statements(app) as seen:
            db.session.commit()
    assert version_of(app) == start
    assert not any("moderation_queue_version" in s for s in seen)

    with app.app_context():
        post = write(world.author, world.prompt_id, "Flag me twice")
        with db.session.begin_nested():
            services.flag_post(user(world.readers[0]), post, "spam")
        services.flag_post(user(world.readers[1]), post, "spam")
        db.session.commit()
    assert version_of(app) == start + 1  # once per transaction, at its commit

    with app.app_context():
        post = write(world.author, world.prompt_id, "Never kept")
        services.flag_post(user(world.readers[0]), post, "spam")
        db.session.rollback()
    assert version_of(app) == start + 1


def test_the_version_row_is_made_again_if_it_is_missing(app, world, client_for):
    with app.app_context():
        db.session.execute(db.delete(QueueVersion))
        db.session.commit()
    riley = client_for(world.riley)
    assert "Nothing waiting" in queue_of(riley)  # no version: rendered, not cached
    _post, item_id = flagged(app, world, "After the row went")
    assert version_of(app) == 1
    assert f"/moderation/items/{item_id}" in queue_of(riley)
