"""Posting into a thread with 10,000 subscribers, over posting into one with none.

Both threads live in the same course and database; posts alternate between them so that
load on the machine hits both equally. Each post is a real HTTP request through the Flask
test client to threads.new_post (POST /c/<course>/<module>/<prompt>/posts). Goal: <= 1.2.
"""

from __future__ import annotations

import secrets
import time

from sqlalchemy import insert, select

from forum.courses.models import Prompt
from forum.courses.services import import_course
from forum.database import utcnow
from forum.extensions import db
from notifications.models import NotificationEvent, Subscription
from tests.bench.common import add_users, bench_app, median

SUBSCRIBERS = 10_000
ROUNDS = 40
WARMUP = 5
COURSE = {
    "slug": "bench",
    "title": "Bench course",
    "modules": [
        {
            "slug": "one",
            "title": "Module one",
            "prompts": [
                {"slug": "busy", "title": "A busy thread"},
                {"slug": "quiet", "title": "A quiet thread"},
            ],
        }
    ],
}


def main() -> None:
    app = bench_app()
    with app.app_context():
        import_course(COURSE)
        db.session.commit()
        prompts = {p.slug: p.id for p in db.session.execute(select(Prompt)).scalars()}
        readers = add_users(SUBSCRIBERS, "reader")
        now = utcnow()
        db.session.execute(
            insert(Subscription),
            [
                {
                    "user_id": uid,
                    "prompt_id": prompts["busy"],
                    "mode": "watching",
                    "created_at": now,
                }
                for uid in readers
            ],
        )
        db.session.commit()
        [author_id] = add_users(1, "author")
        from forum.accounts.models import User

        author = db.session.get(User, author_id)
        cookie_id = author.get_id()

    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = cookie_id
        session["_fresh"] = True

    def post(slug: str) -> float:
        data = {
            "body": f"A reflection {secrets.token_hex(8)}.",
            "idempotency_key": secrets.token_hex(16),
        }
        started = time.perf_counter()
        response = client.post(f"/c/bench/one/{slug}/posts", data=data)
        elapsed = time.perf_counter() - started
        assert response.status_code in (302, 303), response.status_code
        return elapsed

    for _ in range(WARMUP):
        post("busy")
        post("quiet")
    busy, quiet = [], []
    for i in range(ROUNDS):
        # Alternate which goes first, so neither always follows the other.
        order = ("busy", "quiet") if i % 2 == 0 else ("quiet", "busy")
        for slug in order:
            (busy if slug == "busy" else quiet).append(post(slug))

    with app.app_context():
        events = db.session.execute(select(NotificationEvent)).scalars().all()
        assert len(events) == 2 * (ROUNDS + WARMUP), "one event per post, nothing more"
        subs = (
            db.session.execute(
                select(Subscription).where(Subscription.prompt_id == prompts["busy"])
            )
            .scalars()
            .all()
        )
        assert len(subs) == SUBSCRIBERS + 1  # the readers, plus the author by posting
        db.engine.dispose()

    busy_ms, quiet_ms = median(busy) * 1000, median(quiet) * 1000
    print("route: threads.new_post over HTTP (Flask test client), SQLite file database")
    print(f"posts per thread: {ROUNDS} measured (+{WARMUP} warm-up), medians")
    print(f"thread with {SUBSCRIBERS:,} subscribers: {busy_ms:.2f} ms per post")
    print(f"thread with no subscribers:      {quiet_ms:.2f} ms per post")
    print(f"ratio (goal <= 1.2): {busy_ms / quiet_ms:.3f}")


if __name__ == "__main__":
    main()
