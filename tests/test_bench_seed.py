"""The large-data seeder behind tests/bench/pages.py, at a tiny scale: it runs, on the
migrated schema, and makes what it says it makes."""

from __future__ import annotations

from sqlalchemy import func, select

from forum import create_app
from forum.accounts.models import User
from forum.courses.models import Prompt
from forum.extensions import db
from forum.journals.models import JournalEntry
from forum.support.models import TriageItem
from forum.threads.models import Post, PostStatus
from tests.bench.seed_large import Counts, build_schema, seed


def test_seeder_fills_a_fresh_database_in_bulk(tmp_path):
    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "bench-seed-test-" + "x" * 32,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'seed.sqlite3'}",
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
            "ARGON2_PARALLELISM": 1,
        }
    )
    counts = Counts(
        users=50, posts=200, long_thread_posts=120, journal_entries=300, review_items=20
    )
    build_schema(app)
    report = seed(app, counts)

    assert report.counts["users"] == 50
    assert report.counts["posts"] == 200
    assert report.counts["journal_entries"] == report.counts["triage_items"] == 300
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 50
        assert db.session.scalar(select(func.count(Post.id))) == 200
        assert db.session.scalar(select(func.count(JournalEntry.id))) == 300
        assert db.session.scalar(select(func.count(TriageItem.id))) == 300
        long_thread = (
            db.session.execute(select(Prompt).order_by(Prompt.id).limit(1)).scalars().first()
        )
        assert long_thread.post_count == 120
        authors = db.session.scalars(
            select(Post.author_id)
            .where(Post.prompt_id == long_thread.id, Post.status == PostStatus.VISIBLE)
            .order_by(Post.created_at, Post.id)
            .limit(40)
        ).all()
        # Every page of the long thread has distinct authors (here: the first 40 posts).
        assert len(set(authors)) == 40
        if report.moderation_seeded:
            from moderation.models import ReviewItem

            assert db.session.scalar(select(func.count(ReviewItem.id))) == 20
        db.session.remove()
        db.engine.dispose()
