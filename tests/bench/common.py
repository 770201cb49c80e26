"""Shared pieces for the benchmarks: a throwaway app on a file SQLite database."""

from __future__ import annotations

import atexit
import secrets
import shutil
import tempfile
from pathlib import Path

from forum import create_app
from forum.extensions import db
from tests.notifications.helpers import add_users as insert_users


def bench_app(**overrides):
    """An app on a fresh SQLite file in a temporary folder (or HEARTH_BENCH_DATABASE_URL)."""
    import os

    folder = Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    url = os.environ.get("HEARTH_BENCH_DATABASE_URL") or f"sqlite:///{folder / 'bench.sqlite3'}"
    config = {
        "ENV": "testing",
        "SECRET_KEY": secrets.token_hex(32),
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "BASE_URL": "https://hearth.example",
        "MAIL_DEFAULT_SENDER": "Hearth <no-reply@hearth.example>",
        "NOTIFICATIONS_EDIT_WINDOW": 0,
        "NOTIFICATIONS_DIGEST_HOUR": None,
    }
    config.update(overrides)
    app = create_app(config)
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


def add_users(count: int, prefix: str) -> list[int]:
    """Confirmed participants without password hashing, committed; needs an app context."""
    user_ids = insert_users(count, prefix)
    db.session.commit()
    return user_ids


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
