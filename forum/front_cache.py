"""The anonymous reader's fast path: finished responses replayed before Flask runs.

An anonymous reader's thread, module and course pages are rendered once per data version
and shared by every worker (forum/cache.py). Even served from that cache, a request still
pays for Flask's whole pipeline: the session, the login manager, the rate limiter, CSRF,
the transaction, every after_request hook. This WSGI middleware answers the common case
before any of that runs:

- a GET or HEAD with neither a session nor a remember-me cookie (a signed-in reader, a
  flashed message or a login in progress always goes through Flask),
- to a page whose view registered a *version statement* (``register_anonymous_page``):
  one indexed SELECT, by the URL's own arguments, of the data versions the page shows,
- whose finished response (status 200, the headers every after_request hook added, the
  body) this worker captured earlier for the same path, query and versions.

The versions are read from the database on every request, so a page is never stale: a
change bumps a version in the same transaction, and the next request in any worker reads
the new version and misses. Only responses the view itself marked as the anonymous
page everyone shares (``cache.cached_page``) are captured, never one that sets a cookie.
What the view shows as "3 minutes ago" is filled in per request by ``cached_page``; a
replayed copy is kept only within the minute it was filled.

The versions are read on a connection of this middleware's own (one per thread, in
autocommit, read only), not the pool's: it needs no app context and no transaction, and
on PostgreSQL psycopg keeps the statement prepared on it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from flask.sansio.app import App
from sqlalchemy.sql import Select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

log = logging.getLogger(__name__)

# The response header a view sets (cache.cached_page) to say "this is the shared anonymous
# page": the middleware may keep it. Never sent to the client.
SHAREABLE_HEADER = "X-Hearth-Shareable"
_SHAREABLE_LOWER = SHAREABLE_HEADER.lower()
VERSION_ENVIRON_KEY = "hearth.page_version"
MAX_ENTRIES = 512
MAX_BYTES = 48 * 1024 * 1024  # per worker: a few hundred pages of 50 posts

StartResponse = Callable[..., Any]


def register_anonymous_page(app: App, endpoint: str, version_statement: Select) -> None:
    """Let the front cache replay ``endpoint``'s anonymous page while ``version_statement``
    (bind parameters named after the URL's arguments) returns the same row."""
    app.extensions.setdefault("hearth_front_cache_pages", {})[endpoint] = version_statement


def page_versions(endpoint: str, **args: Any) -> tuple | None:
    """The row of versions of ``endpoint``'s page for these URL arguments (None: no such
    page), by its registered statement: the one the front cache read for this request if
    it did, else read now. Call within a request."""
    from flask import current_app, request

    known = request.environ.get(VERSION_ENVIRON_KEY)
    if known is not None and known[0] == endpoint:
        return known[1]
    front: FrontCache = current_app.extensions["hearth_front_cache"]
    statement = current_app.extensions["hearth_front_cache_pages"][endpoint]
    return front.versions.read(endpoint, statement, args)


def page_version(endpoint: str, **args: Any) -> str | None:
    """``page_versions`` as text, for a cache key."""
    row = page_versions(endpoint, **args)
    return None if row is None else repr(row)


class _Entry:
    __slots__ = ("body", "etag", "headers", "minute", "size")

    def __init__(self, headers: list[tuple[str, str]], body: bytes, minute: int) -> None:
        self.body = body
        self.minute = minute
        self.size = len(body)
        self.etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        kept = [(k, v) for k, v in headers if k.lower() not in ("etag", "content-length")]
        kept.append(("ETag", self.etag))
        self.headers = kept


class _VersionReader:
    """Runs the registered version statements on a connection per thread, in autocommit."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._local = threading.local()
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}
        # Called with each statement run (tests/query_count.py counts them with the rest).
        self.listeners: list[Callable[[str], None]] = []
        self._engine: Any = None
        self._lock = threading.Lock()
        self._opened: list[Any] = []

    def _engine_for(self) -> Any:
        if self._engine is None:
            from sqlalchemy import event

            from forum.extensions import db

            with self._app.app_context():
                self._engine = db.engine
            # Disposing of the app's engine (a fork, a test's end) closes these too.
            event.listen(self._engine, "engine_disposed", lambda _engine: self.close_all())
        return self._engine

    def close_all(self) -> None:
        """Close every connection this reader opened, in any thread."""
        with self._lock:
            opened, self._opened = self._opened, []
        self._local = threading.local()
        for pid, conn in opened:
            if pid == os.getpid():  # one a parent process opened is the parent's to close
                with _suppress():
                    conn.close()

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        engine = self._engine_for()
        dialect = engine.dialect
        cargs, cparams = dialect.create_connect_args(engine.url)
        conn = dialect.loaded_dbapi.connect(*cargs, **cparams)
        if dialect.name == "sqlite":
            conn.isolation_level = None  # each SELECT on its own: no snapshot kept open
            conn.execute("PRAGMA query_only = ON")
            conn.execute(f"PRAGMA busy_timeout = {int(self._app.config['SQLITE_BUSY_TIMEOUT_MS'])}")
        else:
            conn.autocommit = True
            conn.read_only = True
        self._local.conn = conn
        self._local.pid = os.getpid()
        with self._lock:
            self._opened.append((os.getpid(), conn))
        return conn

    def _sql(
        self, endpoint: str, statement: Select
    ) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        compiled = self._compiled.get(endpoint)
        if compiled is None:
            with self._lock:
                result = statement.compile(dialect=self._engine_for().dialect)
                order = tuple(result.positiontup) if result.positional else None  # type: ignore[arg-type]
                # The statement's own literals (a COALESCE's 0) are bind parameters too.
                compiled = self._compiled[endpoint] = (str(result), order, dict(result.params))
        return compiled

    def read(self, endpoint: str, statement: Select, args: dict[str, Any]) -> tuple | None:
        sql, order, literals = self._sql(endpoint, statement)
        values = {**literals, **args}
        params: Any = tuple(values[name] for name in order) if order is not None else values
        for listener in self.listeners:
            listener(sql)
        conn = self._connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(sql, params)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except Exception:
            # A database that went away: forget the connection; Flask answers this one.
            self._local.conn = None
            with self._lock, _suppress():
                self._opened.remove((os.getpid(), conn))
            with _suppress():
                conn.close()
            raise
        return None if row is None else tuple(row)


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> bool:
        return True


class FrontCache:
    """WSGI middleware: replays the finished anonymous pages of registered endpoints."""

    def __init__(self, app: Flask, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.versions = _VersionReader(app)
        self._adapter: Any = None

    # --- deciding -----------------------------------------------------------------------

    def _candidate(self, environ: dict) -> tuple | None:
        """The key of this request's replayable page, or None: let Flask answer."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return None
        config = self.app.config
        if config.get("READ_REQUIRES_LOGIN") or config.get("CACHE_URL") == "none":
            return None
        cookies = environ.get("HTTP_COOKIE", "")
        if cookies and (
            config["SESSION_COOKIE_NAME"] in cookies
            or config.get("REMEMBER_COOKIE_NAME", "remember_token") in cookies
        ):
            return None
        pages = self.app.extensions.get("hearth_front_cache_pages")
        path = environ.get("PATH_INFO") or "/"
        if not pages or not path.isascii():
            return None
        if self._adapter is None:
            self._adapter = self.app.url_map.bind("localhost")
        try:
            endpoint, args = self._adapter.match(path, method="GET")
        except (HTTPException, RequestRedirect):
            return None
        statement = pages.get(endpoint)
        if statement is None:
            return None
        try:
            version = self.versions.read(endpoint, statement, args)
        except Exception as error:
            log.warning("front cache: version read failed: %s", error)
            return None
        if version is None:
            return None  # no such page: Flask says 404
        # The view keys the shared rendering by the same versions: read once per request.
        environ[VERSION_ENVIRON_KEY] = (endpoint, version)
        return (path, environ.get("QUERY_STRING", ""), version)

    # --- the store (this worker only) ----------------------------------------------------

    def _get(self, key: tuple, minute: int) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.minute != minute:
                del self._entries[key]
                self._bytes -= entry.size
                return None
            self._entries.move_to_end(key)
            return entry

    def _put(self, key: tuple, entry: _Entry) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._entries[key] = entry
            self._bytes += entry.size
            while self._entries and (len(self._entries) > MAX_ENTRIES or self._bytes > MAX_BYTES):
                _key, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.size

    # --- WSGI ----------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        key = self._candidate(environ)
        if key is None:
            return self._strip(environ, start_response)
        minute = int(time.time() // 60)
        entry = self._get(key, minute)
        if entry is not None:
            return self._replay(environ, start_response, entry)
        return self._capture(environ, start_response, key, minute)

    def _replay(self, environ: dict, start_response: StartResponse, entry: _Entry):
        if entry.etag in environ.get("HTTP_IF_NONE_MATCH", ""):
            headers = [(k, v) for k, v in entry.headers if k.lower() != "content-type"]
            start_response("304 NOT MODIFIED", headers)
            return []
        headers = [*entry.headers, ("Content-Length", str(entry.size))]
        start_response("200 OK", headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [entry.body]

    def _strip(self, environ: dict, start_response: StartResponse):
        def _start(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            headers = [(k, v) for k, v in headers if k.lower() != _SHAREABLE_LOWER]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, _start)

    def _capture(self, environ: dict, start_response: StartResponse, key: tuple, minute: int):
        seen: dict[str, Any] = {}

        def _start(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            seen["status"] = status
            seen["headers"] = headers
            headers = [(k, v) for k, v in headers if k.lower() != _SHAREABLE_LOWER]
            return start_response(status, headers, exc_info)

        # Only a GET's body is kept (a HEAD has none); it's the same page.
        if environ["REQUEST_METHOD"] != "GET":
            return self._strip(environ, start_response)
        chunks = self.wsgi_app(environ, _start)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        headers = seen.get("headers") or []
        names = {k.lower() for k, _v in headers}
        if (
            str(seen.get("status", "")).startswith("200")
            and _SHAREABLE_LOWER in names
            and "set-cookie" not in names
        ):
            kept = [(k, v) for k, v in headers if k.lower() != _SHAREABLE_LOWER]
            kept = [(k, "hit") if k == "X-Hearth-Cache" else (k, v) for k, v in kept]
            self._put(key, _Entry(kept, body, minute))
        return [body]


def init_front_cache(app: Flask) -> None:
    """Put the front cache in front of the app (outermost, after the proxy fix)."""
    front = app.extensions["hearth_front_cache"] = FrontCache(app, app.wsgi_app)
    app.wsgi_app = front  # type: ignore[method-assign]
