"""Layered configuration: defaults, then the environment (prefix ``HEARTH_``), then the
mapping given to ``create_app``. Nothing here runs at import time."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ENV_PREFIX = "HEARTH"


class Defaults:
    """Values that are right for a production install unless said otherwise."""

    # production | development | testing
    ENV = "production"
    SITE_NAME = "Hearth"
    # Every link that leaves the site (emails) is built from this, never from the Host header.
    BASE_URL = "http://127.0.0.1:5000"

    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    SQLITE_BUSY_TIMEOUT_MS = 15_000

    MAX_CONTENT_LENGTH = 256 * 1024
    MAX_FORM_MEMORY_SIZE = 256 * 1024
    MAX_FORM_PARTS = 200

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_DURATION = 60 * 60 * 24 * 30
    WTF_CSRF_TIME_LIMIT = None  # tied to the session; a slow writer must not lose a post

    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = "10 per minute;50 per hour"
    SIGNUP_RATE_LIMIT = "5 per minute;30 per hour"
    POST_RATE_LIMIT = "10 per minute;200 per day"
    PASSWORD_RESET_RATE_LIMIT = "5 per minute;20 per hour"  # noqa: S105 (a rate, not a secret)

    # Argon2id costs: the argon2-cffi defaults (RFC 9106's low-memory profile).
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536
    ARGON2_PARALLELISM = 4

    PASSWORD_RESET_MAX_AGE = 3600
    EMAIL_CONFIRM_MAX_AGE = 60 * 60 * 48

    POSTS_PER_PAGE = 25
    POST_MAX_CHARS = 10_000

    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_DEFAULT_SENDER = "Hearth <no-reply@hearth.invalid>"


# Development and tests run on plain http://127.0.0.1, where Secure cookies would be dropped.
_PLAIN_HTTP_OVERRIDES = {"SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False}


def load_config(app, overrides: dict[str, Any] | None) -> None:
    """Fill ``app.config`` from defaults, the environment and ``overrides``, in that order."""
    app.config.from_object(Defaults)
    # DATABASE_URL is the de-facto name operators already use; the prefixed one wins.
    if os.environ.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    app.config.from_prefixed_env(ENV_PREFIX)
    if overrides:
        app.config.update(overrides)

    if app.config["ENV"] in {"development", "testing"}:
        for key, value in _PLAIN_HTTP_OVERRIDES.items():
            if not (overrides and key in overrides):
                app.config[key] = value

    app.config.setdefault(
        "SQLALCHEMY_DATABASE_URI",
        "sqlite:///" + os.path.join(app.instance_path, "hearth.sqlite3"),
    )
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri.removeprefix("postgres://")
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri.removeprefix("postgresql://")
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    if not uri.startswith("sqlite"):
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options.setdefault("pool_pre_ping", True)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options

    if not app.config.get("SECRET_KEY") and app.config["ENV"] == "development":
        # Written once by 'make run'; production must set HEARTH_SECRET_KEY.
        key_file = Path(app.instance_path) / "secret_key"
        if key_file.is_file():
            app.config["SECRET_KEY"] = key_file.read_text().strip()
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError(
            "No secret key: set HEARTH_SECRET_KEY (in development, 'make run' creates "
            "instance/secret_key)."
        )
