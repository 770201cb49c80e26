"""Shared fixtures: an app per test on one schema per session, SQLite or PostgreSQL.

Set HEARTH_TEST_DATABASE_URL to run the whole suite on PostgreSQL (CI does); otherwise
each session gets a fresh SQLite file.
"""

from __future__ import annotations

import os
import secrets
from contextlib import nullcontext

import pytest
from flask import has_app_context
from sqlalchemy import create_engine, text

from forum import create_app
from forum.accounts.models import Role, User
from forum.accounts.services import create_user
from forum.extensions import db

TEST_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("HEARTH_TEST_DATABASE_URL")
    if url:
        return url
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "hearth-test.sqlite3")


def make_test_app(database_url: str, **overrides):
    config = {
        "ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        # Fail fast on a lock wait in tests; a deadlock between two sessions shows at once.
        "SQLITE_BUSY_TIMEOUT_MS": 5000,
        # Still Argon2id, at a cost that keeps thousands of logins in the suite quick.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 1024,
        "ARGON2_PARALLELISM": 1,
        "BASE_URL": "https://hearth.test",
        "MAIL_DEFAULT_SENDER": "Hearth <no-reply@hearth.test>",
    }
    config.update(overrides)
    app = create_app(config)
    _apps_to_dispose.append(app)
    return app


# Every app a test makes is disposed after it: an engine garbage-collected with open
# connections makes psycopg warn, and warnings are errors here.
_apps_to_dispose: list = []


@pytest.fixture(autouse=True)
def _dispose_engines():
    yield
    while _apps_to_dispose:
        app = _apps_to_dispose.pop()
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture(scope="session")
def _schema(database_url):
    app = make_test_app(database_url)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


def _empty_all_tables(app) -> None:
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(db.metadata.sorted_tables):
                    conn.execute(table.delete())
        db.engine.dispose()


@pytest.fixture
def app_config() -> dict:
    """Override in a test module to change the app's config for its tests."""
    return {}


@pytest.fixture
def app(_schema, database_url, app_config):
    app = make_test_app(database_url, **app_config)
    yield app
    _empty_all_tables(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def make_user(app):
    """Create a confirmed user with a role and commit; returns the user's id and email."""

    def _make(role: Role = Role.PARTICIPANT, email: str | None = None, name: str | None = None):
        email = email or f"user-{secrets.token_hex(4)}@example.com"
        # Reuse an active app context: a second one would open a second connection, and
        # outside a request every SQLite transaction takes the write lock up front.
        with nullcontext() if has_app_context() else app.app_context():
            user = create_user(
                email, name or f"Person {email[:10]}", TEST_PASSWORD, role=role, confirmed=True
            )
            db.session.commit()
            return db.session.get(User, user.id)

    return _make


@pytest.fixture
def login(app):
    """Log ``user`` into ``client`` the way Flask-Login's cookie session does."""

    def _login(client, user: User) -> None:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True

    return _login


@pytest.fixture
def raw_engine(database_url):
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    yield engine
    engine.dispose()
