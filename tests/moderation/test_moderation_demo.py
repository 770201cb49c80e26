"""The demo's living queue: seeded with the demo, the same the second time."""

from __future__ import annotations

from sqlalchemy import func

from forum.extensions import db
from moderation.demo import seed_moderation
from moderation.models import Flag, ItemSource, ItemState, ReviewItem


def _counts() -> tuple[int, int]:
    return (
        db.session.execute(db.select(func.count(ReviewItem.id))).scalar_one(),
        db.session.execute(db.select(func.count(Flag.id))).scalar_one(),
    )


def test_seed_moderation_fills_the_queue_and_is_idempotent(app, runner):
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        seed_moderation()  # whether or not `demo seed` ran it already
        db.session.commit()
        items = list(db.session.execute(db.select(ReviewItem)).scalars())
        assert all(i.state == ItemState.PENDING for i in items)
        held = [i for i in items if i.source == ItemSource.HOLD]
        assert len(held) >= 2  # the link-exchange spam, in two threads
        assert any(i.hold_rule == "first_post_with_link" for i in held)
        assert any(i.source == ItemSource.FLAGS for i in items)
        counts = _counts()
    again = runner.invoke(args=["demo", "seed"])
    assert again.exit_code == 0, again.output
    with app.app_context():
        assert "0 post(s) written, 0 flag(s) added" in seed_moderation()
        db.session.commit()
        assert _counts() == counts
