"""Two moderators deciding the same item at the same moment: one wins, one is told."""

from __future__ import annotations

import threading

from forum.extensions import db
from forum.service_errors import Conflict
from moderation import services
from moderation.models import ItemState, ReviewItem
from tests.moderation.conftest import item_of, user, write


def test_two_moderators_decide_the_same_item_at_once(app, world):
    with app.app_context():
        post = write(world.author, world.prompt_id, "Contested words")
        services.flag_post(user(world.readers[0]), post, "harassment")
        item_id, version = item_of(post).id, item_of(post).version
        db.session.commit()

    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}
    plans = {"riley": (world.riley.id, "remove"), "sam": (world.sam.id, "keep")}

    def attempt(name: str) -> None:
        moderator_id, action = plans[name]
        with app.app_context():
            try:
                if db.engine.dialect.name == "postgresql":
                    # Both transactions have read the item before either decides: a real
                    # race. (SQLite takes its write lock at BEGIN: the second one waits.)
                    db.session.get(ReviewItem, item_id)
                barrier.wait(timeout=10)
                item = db.session.get(ReviewItem, item_id)
                moderator = user(moderator_id)
                services.decide(moderator, item, action, f"{name} decided", version)
                db.session.commit()
                outcomes[name] = "won"
            except Conflict as conflict:
                db.session.rollback()
                outcomes[name] = str(conflict)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(name,)) for name in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["riley", "sam"]
    winners = [name for name, result in outcomes.items() if result == "won"]
    assert len(winners) == 1, outcomes
    (winner,) = winners
    loser = "sam" if winner == "riley" else "riley"
    display = {"riley": "Riley", "sam": "Sam"}[winner]
    assert f"already decided by {display}" in outcomes[loser]
    with app.app_context():
        item = db.session.get(ReviewItem, item_id)
        expected = ItemState.REMOVED if winner == "riley" else ItemState.KEPT
        assert item.state == expected and item.decided_by_id == plans[winner][0]
        assert item.version == version + 1
