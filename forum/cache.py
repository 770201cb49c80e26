"""A shared cache for rendered pages, keyed by data versions, so it is never stale.

The stores below keep bytes under keys, shared by every worker; ``cached_page`` serves
whole pages to anonymous readers from them (the views decide the key):

- ``redis://`` / ``rediss://`` (HEARTH_CACHE_URL): production, shared by every host.
- ``sqlite:///path``: one small SQLite file (WAL) shared by the workers of one host. The
  default when CACHE_URL is unset: ``instance/page-cache.sqlite3``.
- ``memory://``: this process only (the default in tests: an app per test).
- ``none``: no cache.

Keys always carry the data versions of what the page shows (``Prompt.version``,
``Course.version``, bumped in the same transaction as every change), so an entry is never
overwritten, only superseded, and an old one is never read again. Entries expire after
CACHE_TTL seconds so the store stays small. Every store error is a miss or a no-op: a
cache that is down slows pages, it never breaks one.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from flask import Flask, Response, current_app, g, make_response, request, session

from forum.front_cache import SHAREABLE_HEADER

log = logging.getLogger(__name__)
PREFIX = "hearth:page:"


class Store(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl: int) -> None: ...

    def clear(self) -> None: ...


class NullStore:
    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes, ttl: int) -> None:
        return None

    def clear(self) -> None:
        return None


class MemoryStore:
    """This process only, least recently used out first."""

    def __init__(self, max_entries: int = 2000) -> None:
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return item[1]

    def set(self, key: str, value: bytes, ttl: int) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class SQLiteStore:
    """One SQLite file shared by the workers of one host; a connection per thread."""

    PRUNE_EVERY = 500  # writes between deletions of expired entries

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._writes = 0
        self._pid = os.getpid()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._pid != os.getpid():  # a forked worker opens its own
            self._pid = os.getpid()
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=0.2, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS page_cache "
                "(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL NOT NULL)"
            )
            self._local.conn = conn
        return conn

    def get(self, key: str) -> bytes | None:
        try:
            row = (
                self._conn()
                .execute("SELECT value, expires FROM page_cache WHERE key = ?", (key,))
                .fetchone()
            )
        except sqlite3.Error as error:
            log.warning("page cache read failed: %s", error)
            return None
        if row is None or row[1] < time.time():
            return None
        return bytes(row[0])

    def set(self, key: str, value: bytes, ttl: int) -> None:
        now = time.time()
        try:
            conn = self._conn()
            conn.execute(
                "INSERT OR REPLACE INTO page_cache (key, value, expires) VALUES (?, ?, ?)",
                (key, value, now + ttl),
            )
            self._writes += 1
            if self._writes % self.PRUNE_EVERY == 0:
                conn.execute("DELETE FROM page_cache WHERE expires < ?", (now,))
        except sqlite3.Error as error:
            log.warning("page cache write failed: %s", error)

    def clear(self) -> None:
        try:
            self._conn().execute("DELETE FROM page_cache")
        except sqlite3.Error as error:
            log.warning("page cache clear failed: %s", error)


class RedisStore:
    """Redis, with short timeouts; after an error it rests a few seconds (all misses)."""

    RETRY_AFTER = 5.0

    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(
            url, socket_connect_timeout=0.25, socket_timeout=0.25, health_check_interval=30
        )
        self._down_until = 0.0

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, error: Exception) -> None:
        log.warning("page cache (Redis) unavailable: %s", error)
        self._down_until = time.monotonic() + self.RETRY_AFTER

    def get(self, key: str) -> bytes | None:
        if not self._available():
            return None
        try:
            return self._client.get(PREFIX + key)  # type: ignore[return-value]
        except Exception as error:
            self._failed(error)
            return None

    def set(self, key: str, value: bytes, ttl: int) -> None:
        if not self._available():
            return
        try:
            self._client.set(PREFIX + key, value, ex=ttl)
        except Exception as error:
            self._failed(error)

    def clear(self) -> None:
        try:
            for key in self._client.scan_iter(match=PREFIX + "*", count=500):
                self._client.delete(key)
        except Exception as error:
            self._failed(error)


def make_store(app: Flask) -> Store:
    url = app.config.get("CACHE_URL")
    if not url:
        url = (
            "memory://"
            if app.config.get("TESTING")
            else "sqlite:///" + os.path.join(app.instance_path, "page-cache.sqlite3")
        )
    url = str(url)
    if url == "none":
        return NullStore()
    if url == "memory://":
        return MemoryStore()
    if url.startswith("sqlite:///"):
        return SQLiteStore(url.removeprefix("sqlite:///"))
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url)
    raise ValueError(
        f"HEARTH_CACHE_URL must be redis://..., sqlite:///PATH, memory:// or none, not {url!r}"
    )


def init_cache(app: Flask) -> None:
    from forum.front_cache import init_front_cache

    app.extensions["hearth_cache"] = make_store(app)
    init_front_cache(app)


def store() -> Store:
    return current_app.extensions["hearth_cache"]


def get(key: str) -> bytes | None:
    return store().get(key)


def put(key: str, value: bytes) -> None:
    store().set(key, value, int(current_app.config["CACHE_TTL"]))


# --- whole pages for anonymous readers ------------------------------------------------

# Session keys that change nothing on a page an anonymous reader sees. Anything else (a
# flashed message, the support panel, a login in progress) means: render it fresh.
NEUTRAL_SESSION_KEYS = frozenset({"csrf_token", "_permanent", "_fresh", "_id"})
AGO_MARK = "\x00ago:"
_AGO_RE = re.compile("\x00ago:([^\x00]*)\x00")


def anonymous_cacheable() -> bool:
    """Whether this request may get (and fill) the page every anonymous reader shares."""
    from flask_login import current_user

    if request.method not in ("GET", "HEAD") or current_user.is_authenticated:
        return False
    if not set(session.keys()) <= NEUTRAL_SESSION_KEYS:
        return False
    return type(store()) is not NullStore


def render_epoch() -> str:
    """What, besides the data, a cached page depends on: the templates as deployed, the
    settings pages read, the installed hooks. A deploy or a config change starts afresh."""
    app = current_app
    epoch = app.extensions.get("hearth_render_epoch")
    if epoch is None:
        digest = hashlib.blake2b(digest_size=8)
        folders = getattr(app.jinja_loader, "searchpath", None) or []
        for folder in folders:
            for path in sorted(Path(folder).rglob("*.html")):
                stat = path.stat()
                digest.update(f"{path}:{stat.st_mtime_ns}:{stat.st_size}".encode())
        for name in (
            "SITE_NAME",
            "NOINDEX",
            "READ_REQUIRES_LOGIN",
            "POSTS_PER_PAGE",
            "POST_MAX_CHARS",
            "FACILITATOR_CONTACT",
        ):
            digest.update(repr(app.config.get(name)).encode())
        digest.update(
            repr(sorted(app.extensions.get("hearth_template_hooks", {}).items())).encode()
        )
        digest.update(repr(sorted(app.blueprints)).encode())
        epoch = app.extensions["hearth_render_epoch"] = digest.hexdigest()
    return epoch


def defer_times() -> bool:
    """True while a page for the cache is rendered: "3 minutes ago" is filled in per request."""
    return bool(g.get("hearth_defer_ago"))


_parse_time = functools.lru_cache(maxsize=8192)(datetime.fromisoformat)


def fill_times(text: str) -> str:
    """Put the words ("3 minutes ago") in place of the marks a deferred rendering left."""
    from forum.templating import humanize_time

    if AGO_MARK not in text:
        return text
    said: dict[str, str] = {}

    def _one(match: re.Match[str]) -> str:
        stamp = match.group(1)
        words = said.get(stamp)
        if words is None:
            words = said[stamp] = humanize_time(_parse_time(stamp))
        return words

    return _AGO_RE.sub(_one, text)


def cached_page(key: str, render: Callable[[], str]) -> Response:
    """The anonymous page under ``key`` (rendering and storing it on a miss), with an ETag;
    304 when the reader's copy is the same."""
    full_key = f"{render_epoch()}:{key}"
    raw = get(full_key)
    if raw is None:
        g.hearth_defer_ago = True
        try:
            html = render()
        finally:
            g.hearth_defer_ago = False
        raw = html.encode()
        put(full_key, raw)
        g.hearth_cache_filled = True
    body = fill_times(raw.decode())
    response = make_response(body)
    response.set_etag(hashlib.blake2b(body.encode(), digest_size=16).hexdigest())
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Hearth-Cache"] = "miss" if g.get("hearth_cache_filled") else "hit"
    # The page every anonymous reader shares: the front cache (forum/front_cache.py) may
    # keep this finished response and replay it while the page's versions stay the same.
    response.headers[SHAREABLE_HEADER] = "1"
    return response.make_conditional(request)  # type: ignore[return-value]
