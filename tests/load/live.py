"""A real server and real HTTP clients for load and fault tests.

``Gunicorn`` runs ``gunicorn wsgi:app`` on a free loopback port with production's settings,
except plain http (Secure cookies off, since the test speaks http to 127.0.0.1).
``Browser`` is one person: it keeps its cookies like a browser, logs in through the login
form and posts through the thread's form, with CSRF on, reading the token from the page.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "load-test-secret-key-" + "y" * 32

_HIDDEN_RE = re.compile(r'<input[^>]*\bname="(csrf_token|idempotency_key)"[^>]*>')
_VALUE_RE = re.compile(r'\bvalue="([^"]*)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[:3]} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any Hearth setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env.pop("DATABASE_URL", None)
    env.update(settings)
    return env


def production_env(database_url: str, **settings: str) -> dict[str, str]:
    """Production's settings, on plain http to 127.0.0.1."""
    return clean_env(
        HEARTH_ENV="production",
        HEARTH_SECRET_KEY=SECRET_KEY,
        HEARTH_BASE_URL="https://hearth.test",
        HEARTH_SQLALCHEMY_DATABASE_URI=database_url,
        HEARTH_SESSION_COOKIE_SECURE="false",
        HEARTH_REMEMBER_COOKIE_SECURE="false",
        HEARTH_MAIL_DEFAULT_SENDER="Hearth <no-reply@hearth.test>",
        **settings,
    )


class Gunicorn:
    """``gunicorn --workers N wsgi:app`` on a free loopback port; a context manager."""

    def __init__(self, env: dict[str, str], workers: int = 2, timeout: int = 60):
        self.port = free_port()
        # An instance folder of its own (the page cache's SQLite file lives there), never
        # the checkout's instance/ that a developer's `make run` uses.
        self._instance = tempfile.TemporaryDirectory(prefix="hearth-instance-")
        self.env = {"HEARTH_INSTANCE_PATH": self._instance.name, **env}
        self.workers = workers
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        self.stderr = b""

    def __enter__(self) -> Gunicorn:
        self._log = open(os.path.join(self._instance.name, "gunicorn.log"), "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(self.workers),
             "--bind", f"127.0.0.1:{self.port}", "--timeout", str(self.timeout),
             # Not the shared default under ~/.gunicorn, which other servers use too.
             "--no-control-socket", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self._log,
        )  # fmt: skip
        try:
            wait_for_port(self.port, self.process)
            self._wait_for_a_worker()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_for_a_worker(self, timeout: float = 90) -> None:
        """The port opens before any worker has loaded the app: wait for a first answer."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None and self.process.poll() is None, self.log()[-2000:]
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                connection.request("GET", "/")
                status = connection.getresponse().status
                assert status == 200, f"GET / answered {status}\n{self.log()[-2000:]}"
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
            finally:
                connection.close()

    def log(self) -> str:
        """What gunicorn and the app wrote to stderr so far (tracebacks included)."""
        if self.process is None:
            return self.stderr.decode(errors="replace")
        self._log.flush()
        with open(self._log.name, "rb") as log:
            return log.read().decode(errors="replace")

    def __exit__(self, *exc) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()
        with open(self._log.name, "rb") as log:
            self.stderr = log.read()
        self.process = None
        self._instance.cleanup()

    def browser(self) -> Browser:
        return Browser(self.port)


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes, seconds: float):
        self.status = status
        self.headers = headers
        self.body = body
        self.seconds = seconds

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def hidden(self, name: str) -> str:
        """The value of the hidden input ``name`` (csrf_token, idempotency_key)."""
        for match in _HIDDEN_RE.finditer(self.text):
            if match.group(1) == name:
                value = _VALUE_RE.search(match.group(0))
                if value:
                    return unescape(value.group(1))
        raise AssertionError(f"no hidden {name} in the page (status {self.status})")


class Browser:
    """One person's cookies and connection; not thread-safe (one per thread)."""

    def __init__(self, port: int, timeout: float = 30):
        self.port = port
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        keep_cookies: bool = True,
    ) -> Response:
        headers = {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.monotonic()
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.timeout
                )
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # gunicorn's sync workers close kept-alive connections; a browser reconnects.
                # Only for a connection that was already used (never a second POST otherwise).
                self.close()
                if attempt == 2:
                    raise
        seconds = time.monotonic() - started
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        if keep_cookies:
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                value = rest.split(";", 1)[0]
                if "Max-Age=0" in header or "expires=Thu, 01 Jan 1970" in header:
                    self.cookies.pop(name.strip(), None)
                else:
                    self.cookies[name.strip()] = value
        return Response(response.status, response.headers, data, seconds)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def login(self, email: str, password: str) -> Response:
        page = self.get("/account/login")
        assert page.status == 200, page.status
        answer = self.request(
            "POST",
            "/account/login",
            {"csrf_token": page.hidden("csrf_token"), "email": email, "password": password},
        )
        return answer

    def post_form(self, thread_path: str) -> tuple[str, str]:
        """Open the thread page; return its form's (csrf_token, idempotency_key)."""
        page = self.get(thread_path)
        assert page.status == 200, page.status
        return page.hidden("csrf_token"), page.hidden("idempotency_key")

    def post(
        self, thread_path: str, body: str, csrf_token: str, idempotency_key: str | None = None
    ) -> Response:
        """Submit the thread's form. The flash message it sets would be shown by the page
        the browser goes to next; not fetching it, we keep the session cookie as it was."""
        return self.request(
            "POST",
            thread_path + "/posts",
            {
                "csrf_token": csrf_token,
                "idempotency_key": idempotency_key or secrets.token_urlsafe(24),
                "body": body,
            },
            keep_cookies=False,
        )
