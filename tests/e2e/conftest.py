"""Browser fixtures: a live server in a thread and Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: it launches the system's chromium. Without it
the browser tests are skipped with a message on a developer's machine, and fail in CI.
"""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from tests.conftest import make_test_app

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium_path() -> str | None:
    return os.environ.get("HEARTH_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
def browser():
    path = _chromium_path()
    if path is None:
        message = "Debian's chromium is needed for browser tests: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _bodies_read_at_once(app):
    """``app`` with each response body read (and its file closed) before it is sent.

    Chromium drops connections it no longer needs (a favicon already cached); werkzeug's
    development server can then skip closing the body, and a static file's handle is left
    for the garbage collector, a ResourceWarning at some later test's teardown."""

    def wsgi(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    return wsgi


class LiveServer:
    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, _bodies_read_at_once(app), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


@pytest.fixture
def live_server(_schema, database_url, app_config):
    # BASE_URL must be the live address: emails and confirmation links are built from it.
    server = LiveServer(make_test_app(database_url))
    server.app.config.update({"BASE_URL": server.url, **app_config})
    server.start()
    yield server
    server.stop()
    from tests.conftest import _empty_all_tables

    _empty_all_tables(server.app)


@pytest.fixture
def app(live_server):
    """In browser tests the app under test is the live server's."""
    return live_server.app


@pytest.fixture
def new_page(browser):
    """Open pages in fresh browser contexts (separate cookies, like separate people)."""
    contexts = []

    def _new_page(**options):
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.dialogs = []
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        return page

    yield _new_page
    for context in contexts:
        context.close()
