"""Layered configuration: defaults, then the environment (prefix ``HEARTH_``), then the
mapping given to ``create_app``. Nothing here runs at import time."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from werkzeug.middleware.proxy_fix import ProxyFix

ENV_PREFIX = "HEARTH"

# Development and tests run here unless told otherwise; production must say where it lives.
DEVELOPMENT_BASE_URL = "http://127.0.0.1:5000"

BASE_URL_MISSING = (
    "Set HEARTH_BASE_URL to the public address of this site (e.g. https://reflect.example.org): "
    "every link in every email is built from it."
)


class ConfigError(RuntimeError):
    """The settings can't work; the message says in one line what to set, and how."""


class Defaults:
    """Values that are right for a production install unless said otherwise."""

    # production | development | testing
    ENV = "production"
    SITE_NAME = "Hearth"
    # BASE_URL: every link that leaves the site (emails) is built from it, never from the
    # Host header. No default here: production must set it (see _check_base_url).

    # How many reverse proxies in front of the app add X-Forwarded-For/-Proto. 0 trusts
    # no header: a client could otherwise pick the address its rate limits are counted by.
    TRUSTED_PROXY_HOPS = 0

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
    # If the storage (Redis) is unreachable, keep serving: count in this process's memory
    # meanwhile, and never turn a storage error into an error page.
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # Per client address (see TRUSTED_PROXY_HOPS) ...
    LOGIN_RATE_LIMIT = "10 per minute;50 per hour"
    # ... and per account tried, so guessing one password from many addresses is slow too.
    LOGIN_ACCOUNT_RATE_LIMIT = "5 per minute;20 per hour"
    SIGNUP_RATE_LIMIT = "5 per minute;30 per hour"
    POST_RATE_LIMIT = "10 per minute;200 per day"
    PASSWORD_RESET_RATE_LIMIT = "5 per minute;20 per hour"  # noqa: S105 (a rate, not a secret)

    # Argon2id costs: the argon2-cffi defaults (RFC 9106's low-memory profile).
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536
    ARGON2_PARALLELISM = 4

    PASSWORD_RESET_MAX_AGE = 3600
    EMAIL_CONFIRM_MAX_AGE = 60 * 60 * 48

    # Reading: by default anyone can read the reflections. An operator running a closed
    # cohort can require a login for every page, and/or ask search engines to stay away.
    READ_REQUIRES_LOGIN = False
    NOINDEX = False

    POSTS_PER_PAGE = 25
    POST_MAX_CHARS = 10_000

    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_DEFAULT_SENDER = "Hearth <no-reply@hearth.invalid>"

    # Journals and support (forum/journals, forum/support).
    JOURNAL_MAX_CHARS = 20_000
    JOURNAL_ENTRIES_PER_PAGE = 20
    # Shown on /support/resources, before a first journal entry, after "I need help now"
    # and with a crisis signal. Configure for your region: {name, phone, text, web}.
    CRISIS_RESOURCES: list[dict[str, str]] = [
        {
            "name": "Emergency services",
            "phone": "Your local emergency number (for example 112, 911 or 999)",
            "text": "If you or someone else is in danger right now, call them first.",
            "web": "",
        },
        {
            "name": "A crisis line near you",
            "phone": "",
            "text": "Placeholder: the operator of this site should list a free, confidential "
            "crisis line for your region here (HEARTH_CRISIS_RESOURCES).",
            "web": "https://findahelpline.com",
        },
    ]
    # How learners reach the course team outside the forum (an address, or words).
    FACILITATOR_CONTACT = "your course facilitators (configure HEARTH_FACILITATOR_CONTACT)"
    SUPPORT_QUEUE_PER_PAGE = 25
    SUPPORT_CLAIM_MINUTES = 30
    SUPPORT_CONCERNS_PER_DAY = 5
    # Help-now and crisis items unanswered this long go to the backup address.
    SUPPORT_ESCALATE_AFTER_MINUTES = 60
    SUPPORT_BACKUP_ADDRESS: str | None = None

    # Page cache (forum/cache.py): rendered pages for anonymous readers, keyed by data
    # versions so they are never stale. redis://... in production (shared by every worker
    # and host); unset: a SQLite file in the instance folder, shared by this host's
    # workers; "memory://" for this process; "none" to turn it off.
    CACHE_URL: str | None = None
    # Seconds an entry may stay; superseded entries are never read again, this only keeps
    # the store small.
    CACHE_TTL = 24 * 3600


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

    _host_prefixed_cookies(app.config, overrides or {})

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
        raise ConfigError(
            "No secret key: set HEARTH_SECRET_KEY (in development, 'make run' creates "
            "instance/secret_key)."
        )
    _check_base_url(app.config)
    _check_proxy_hops(app.config)
    _bound_redis_waits(app.config)


# In production the session and remember-me cookies carry the __Host- prefix: browsers
# then accept them only when Secure, with Path=/ and no Domain, so no sibling subdomain or
# plain-http page can plant or overwrite them. Development and tests (plain http) keep
# plain names.
PRODUCTION_SESSION_COOKIE_NAME = "__Host-hearth_session"
PRODUCTION_REMEMBER_COOKIE_NAME = "__Host-remember"


def _host_prefixed_cookies(config, overrides: dict[str, Any]) -> None:
    if config["ENV"] != "production":
        return
    for prefix, name in (
        ("SESSION_COOKIE", PRODUCTION_SESSION_COOKIE_NAME),
        ("REMEMBER_COOKIE", PRODUCTION_REMEMBER_COOKIE_NAME),
    ):
        if f"{prefix}_NAME" in overrides or os.environ.get(f"{ENV_PREFIX}_{prefix}_NAME"):
            continue  # the operator named it
        if config.get(f"{prefix}_SECURE") and not config.get(f"{prefix}_DOMAIN"):
            config[f"{prefix}_NAME"] = name
            config[f"{prefix}_PATH"] = "/"


def _check_base_url(config) -> None:
    """Production must name its public address; anywhere, it must be an absolute http(s) URL."""
    base_url = config.get("BASE_URL")
    if not base_url:
        if config["ENV"] == "production":
            raise ConfigError(BASE_URL_MISSING)
        base_url = config["BASE_URL"] = DEVELOPMENT_BASE_URL
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if (
        parts is None
        or parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.query
        or parts.fragment
    ):
        raise ConfigError(
            f"HEARTH_BASE_URL must be an absolute http:// or https:// address such as "
            f"https://reflect.example.org, not {base_url!r}."
        )


def _check_proxy_hops(config) -> None:
    hops = config.get("TRUSTED_PROXY_HOPS")
    # bool is an int in Python; "true" from the environment is not a number of proxies.
    if isinstance(hops, bool) or not isinstance(hops, int) or hops < 0:
        raise ConfigError(
            "HEARTH_TRUSTED_PROXY_HOPS must be the number of reverse proxies in front of "
            f"Hearth (0, 1, 2...), not {hops!r}."
        )


def _bound_redis_waits(config) -> None:
    """An unreachable Redis must cost a request a moment, not a hung worker."""
    uri = str(config.get("RATELIMIT_STORAGE_URI") or "")
    if uri.startswith(("redis://", "rediss://", "redis+")):
        options = dict(config.get("RATELIMIT_STORAGE_OPTIONS") or {})
        options.setdefault("socket_connect_timeout", 2)
        options.setdefault("socket_timeout", 2)
        config["RATELIMIT_STORAGE_OPTIONS"] = options


def apply_proxy_fix(app) -> None:
    """Behind ``TRUSTED_PROXY_HOPS`` reverse proxies, take the client's address and scheme
    from their X-Forwarded-For/-Proto headers. The Host header is never taken from them:
    links are built from BASE_URL."""
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)
