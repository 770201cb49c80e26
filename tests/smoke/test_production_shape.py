"""Smoke test of the production shape, through nginx: TLS, two gunicorn backends, the
notification workers. Opt-in: set HEARTH_SMOKE_URL (``deploy/production-shape.sh`` prints
it; the certificate is self-signed and not verified). Run it with

    bash deploy/production-shape.sh
    HEARTH_SMOKE_URL=https://127.0.0.1:8443 .venv/bin/pytest -q -m smoke tests/smoke
    bash deploy/production-shape.sh stop

Optional: HEARTH_SMOKE_HTTP_URL (the plain-HTTP listener that redirects; default port 8080
on the same host when HEARTH_SMOKE_URL uses 8443) and HEARTH_SMOKE_STATE (the script's
state folder, default /var/tmp/hearth-shape) for the outbox and worker checks.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import ssl
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from html import escape, unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import pytest

SMOKE_URL = os.environ.get("HEARTH_SMOKE_URL", "").rstrip("/")
STATE = Path(os.environ.get("HEARTH_SMOKE_STATE", "/var/tmp/hearth-shape"))  # noqa: S108
DEMO_COURSE_FILE = Path(__file__).resolve().parents[2] / "forum" / "courses" / "demo_course.toml"
DEMO_PARTICIPANT = "participant@example.com"
DEMO_PASSWORD = "hearth-demo-password"

pytestmark = [
    pytest.mark.smoke,
    pytest.mark.skipif(
        not SMOKE_URL,
        reason="set HEARTH_SMOKE_URL (after bash deploy/production-shape.sh) to run it",
    ),
]


# --- a small HTTPS client: one connection per request, cookies kept, no redirects followed


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    text: str

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


@dataclass
class Client:
    base: str
    cookies: dict[str, str] = field(default_factory=dict)
    # Connect from this local address (any 127.x.y.z reaches a loopback nginx).
    source: str | None = None

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        url = urlsplit(urljoin(self.base + "/", path))
        send = {"User-Agent": "hearth-smoke"}
        if self.cookies:
            send["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            send["Content-Type"] = "application/x-www-form-urlencoded"
        send.update(headers or {})
        source = (self.source, 0) if self.source else None
        if url.scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the shape's certificate is self-signed
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                url.netloc, timeout=30, context=context, source_address=source
            )
        else:
            conn = http.client.HTTPConnection(url.netloc, timeout=30, source_address=source)
        try:
            target = url.path + (f"?{url.query}" if url.query else "")
            conn.request(method, target or "/", body=body, headers=send)
            raw = conn.getresponse()
            response = Response(raw.status, raw.getheaders(), raw.read().decode("utf-8", "replace"))
        finally:
            conn.close()
        for cookie in response.all("Set-Cookie"):
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if value and "expires=thu, 01 jan 1970" not in cookie.lower():
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)
        return response

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, form: dict[str, str], referer: str | None = "same") -> Response:
        headers = {}
        if referer == "same":
            # What a browser sends with a form from this site.
            headers["Referer"] = self.base + path
        elif referer:
            headers["Referer"] = referer
        return self.request("POST", path, form=form, headers=headers)


class _FormParser(HTMLParser):
    """The fields of the form whose action ends with ``action`` (hidden ones included)."""

    def __init__(self, action: str):
        super().__init__()
        self.action = action
        self.inside = False
        self.found = False
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form" and attributes.get("action", "").split("?")[0].endswith(self.action):
            self.inside = self.found = True
        elif tag == "input" and self.inside and attributes.get("name"):
            kind = attributes.get("type", "text")
            if kind not in {"checkbox", "submit"}:
                self.fields[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def form_fields(page: Response, action: str) -> dict[str, str]:
    parser = _FormParser(action)
    parser.feed(page.text)
    assert parser.found, f"no form posting to {action} on the page"
    return parser.fields


# --- the demo course ------------------------------------------------------------------


def demo_course() -> dict:
    with DEMO_COURSE_FILE.open("rb") as f:
        return tomllib.load(f)


def first_thread() -> tuple[str, str]:
    """The path and title of the demo course's first prompt."""
    course = demo_course()
    module = course["modules"][0]
    prompt = module["prompts"][0]
    return f"/c/{course['slug']}/{module['slug']}/{prompt['slug']}", prompt["title"]


def login(client: Client) -> Response:
    page = client.get("/account/login")
    assert page.status == 200
    fields = form_fields(page, "/account/login")
    fields.update(email=DEMO_PARTICIPANT, password=DEMO_PASSWORD)
    return client.post("/account/login", fields)


@pytest.fixture(scope="module")
def posted() -> dict[str, str]:
    """A demo participant logs in and posts a reflection through nginx, once per run."""
    client = Client(SMOKE_URL)
    answer = login(client)
    assert answer.status in (302, 303), f"login answered {answer.status}"
    path, _ = first_thread()
    thread = client.get(path)
    assert thread.status == 200
    fields = form_fields(thread, path + "/posts")
    assert fields.get("csrf_token"), "the post form carries a CSRF token"
    text = f"Smoke test through nginx {secrets.token_hex(6)}: noticing, slowly."
    fields["body"] = text
    answer = client.post(path + "/posts", fields)
    assert answer.status == 303, f"posting answered {answer.status}: {answer.text[:300]}"
    return {"text": text, "location": answer.header("Location") or "", "thread": path}


# --- the checks -----------------------------------------------------------------------


def test_home_page_lists_the_demo_course():
    page = Client(SMOKE_URL).get("/")
    assert page.status == 200
    assert escape(demo_course()["title"]) in page.text


def test_a_thread_page_renders():
    path, title = first_thread()
    page = Client(SMOKE_URL).get(path)
    assert page.status == 200
    assert escape(title) in page.text
    assert 'class="post' in page.text, "the demo's sample reflections are shown"


def test_static_files_come_from_nginx_with_cache_headers():
    page = Client(SMOKE_URL).get("/")
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    assert stylesheet, "the page links its stylesheet"
    css = Client(SMOKE_URL).get(unescape(stylesheet.group(1)))
    assert css.status == 200
    assert (css.header("Content-Type") or "").startswith("text/css")
    assert "max-age=" in (css.header("Cache-Control") or "")
    assert css.header("Expires")
    assert css.header("X-Content-Type-Options") == "nosniff"
    # Answered from disk: no backend took part.
    assert not css.header("X-Upstream")


def test_security_headers():
    page = Client(SMOKE_URL).get("/")
    assert "default-src 'self'" in (page.header("Content-Security-Policy") or "")
    assert page.header("X-Content-Type-Options") == "nosniff"
    assert page.header("X-Frame-Options") == "DENY"
    assert page.header("Referrer-Policy")
    hsts = page.all("Strict-Transport-Security")
    assert len(hsts) == 1, f"exactly one HSTS header, not {hsts}"
    assert "max-age=" in hsts[0]
    assert "Server: nginx/" not in "\n".join(f"{k}: {v}" for k, v in page.headers)


def test_nginx_refuses_bodies_over_256k():
    """client_max_body_size matches Hearth's MAX_CONTENT_LENGTH: nginx answers 413 itself,
    before any backend reads the body."""
    client = Client(SMOKE_URL)
    answer = client.post("/account/login", {"email": "x" * (300 * 1024)})
    assert answer.status == 413
    assert not answer.header("X-Upstream"), "a backend was asked"
    small = client.post("/account/login", {"email": "x" * (200 * 1024)})
    assert small.status != 413
    assert small.header("X-Upstream"), "a body under the limit reaches a backend"


def test_plain_http_redirects_to_https():
    http_url = os.environ.get("HEARTH_SMOKE_HTTP_URL")
    parts = urlsplit(SMOKE_URL)
    if not http_url and parts.port == 8443:
        http_url = f"http://{parts.hostname}:8080"
    if not http_url:
        pytest.skip("set HEARTH_SMOKE_HTTP_URL to check the HTTP to HTTPS redirect")
    path, _ = first_thread()
    answer = Client(http_url).get(path)
    assert answer.status == 301
    assert answer.header("Location") == SMOKE_URL + path


def test_login_page_and_secure_session_cookie():
    client = Client(SMOKE_URL)
    page = client.get("/account/login")
    assert page.status == 200
    assert 'name="csrf_token"' in page.text
    session = [c for c in page.all("Set-Cookie") if c.startswith("__Host-hearth_session=")]
    assert session, "the login page starts a session for its CSRF token"
    flags = [part.strip().lower() for part in session[0].split(";")]
    assert "secure" in flags
    assert "httponly" in flags
    assert "samesite=lax" in flags


def test_the_app_sees_https_from_x_forwarded_proto():
    """Hearth only sees HTTPS through nginx's X-Forwarded-Proto (gunicorn listens on plain
    HTTP). Flask-WTF's strict referrer check runs only for HTTPS requests, so a form with a
    valid CSRF token but no Referer is refused here, and accepted with one."""
    client = Client(SMOKE_URL)
    fields = form_fields(client.get("/account/login"), "/account/login")
    fields.update(email=f"nobody-{secrets.token_hex(4)}@example.com", password="wrong")
    refused = client.post("/account/login", fields, referer=None)
    assert refused.status == 400, "a POST without a Referer passed: the app thinks it is HTTP"
    other_site = client.post("/account/login", fields, referer="https://evil.example/")
    assert other_site.status == 400
    shown_again = client.post("/account/login", fields)
    assert shown_again.status == 422, "the same form with this site's Referer is read"


def shape_setting(name: str) -> str | None:
    env_file = STATE / "hearth.env"
    if not env_file.is_file():
        return None
    for line in env_file.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == name:
            return value
    return None


def test_the_client_address_comes_from_x_forwarded_for():
    """Rate limits count by the client's address. nginx appends the address it sees to
    X-Forwarded-For, and with HEARTH_TRUSTED_PROXY_HOPS=1 Hearth takes that last entry:
    connecting from 127.0.0.3 (nginx itself reaches gunicorn from 127.0.0.1), the login
    limit's key in Redis names 127.0.0.3, and an address the client made up names nothing."""
    redis_url = shape_setting("HEARTH_RATELIMIT_STORAGE_URI")
    prefix = shape_setting("HEARTH_RATELIMIT_KEY_PREFIX")
    if not (redis_url and prefix) or urlsplit(SMOKE_URL).hostname != "127.0.0.1":
        pytest.skip("needs the shape's env file and a loopback HEARTH_SMOKE_URL")
    import redis

    store = redis.Redis.from_url(redis_url)
    client = Client(SMOKE_URL, source="127.0.0.3")
    fields = form_fields(client.get("/account/login"), "/account/login")
    fields.update(email=f"nobody-{secrets.token_hex(4)}@example.com", password="wrong")
    spoofed = {"X-Forwarded-For": "203.0.113.7", "Referer": SMOKE_URL + "/account/login"}
    answer = client.request("POST", "/account/login", form=fields, headers=spoofed)
    assert answer.status == 422
    try:
        keys = [key.decode() for key in store.scan_iter(match=f"*/{prefix}/*", count=1000)]
    finally:
        store.close()
    assert any("127.0.0.3" in key for key in keys), f"no limit counted for 127.0.0.3: {keys}"
    assert not any("203.0.113.7" in key for key in keys), keys


def test_requests_alternate_between_both_backends():
    seen = set()
    for _ in range(10):
        answer = Client(SMOKE_URL).get("/")
        assert answer.status == 200
        seen.add(answer.header("X-Upstream"))
    assert len(seen - {None}) == 2, f"backends seen: {seen}"


def test_a_participant_posts_a_reflection_through_nginx(posted):
    # The permalink redirect is relative (the browser resolves it against https://...).
    assert posted["location"].startswith("/posts/")
    client = Client(SMOKE_URL)
    page = client.get(posted["thread"])
    assert page.status == 200
    assert escape(posted["text"]) in page.text


def hearth_flask(*args: str) -> str:
    helper = STATE / "bin" / "hearth-flask"
    if not helper.is_file():
        pytest.skip(f"no {helper}: set HEARTH_SMOKE_STATE to the shape's state folder")
    result = subprocess.run(
        [str(helper), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def parse_status(output: str) -> dict[str, dict[str, int]]:
    sections: dict[str, dict[str, int]] = {}
    current = None
    for line in output.splitlines():
        if line in {"events:", "messages:"}:
            current = sections.setdefault(line[:-1], {})
        elif current is not None and line.startswith("  ") and line.split()[-1].isdigit():
            name, count = line.split()
            current[name] = int(count)
        else:
            current = None
    return sections


def test_the_workers_are_alive_and_empty_the_outbox(posted):
    pids = sorted((STATE / "run").glob("worker-*.pid"))
    if not pids:
        pytest.skip(f"no worker pid files in {STATE / 'run'}")
    for pidfile in pids:
        os.kill(int(pidfile.read_text()), 0)  # raises if that worker is gone
    deadline = time.monotonic() + 60
    while True:
        output = hearth_flask("notifications", "status")
        status = parse_status(output)
        busy = status["events"].get("pending", 0) + sum(
            status["messages"].get(name, 0) for name in ("queued", "sending")
        )
        if busy == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert busy == 0, f"the workers left work behind:\n{output}"
    assert status["events"].get("failed", 0) == 0, output
    assert status["messages"].get("failed", 0) == 0, output
    assert "failed (latest" not in output, output
    assert status["events"].get("done", 0) >= 1, f"no event was processed:\n{output}"
    assert status["messages"].get("sent", 0) >= 1, output
    # The post became mail to the thread's subscribers, written by a worker (the shape's
    # transport is a folder), with RFC 8058 one-click unsubscribe on the public address.
    mail = [m for m in sent_mail() if posted["text"] in plain_text(m)]
    assert mail, f"no message in {STATE / 'mail'} carries the post"
    assert mail[0]["List-Unsubscribe"].startswith(f"<{SMOKE_URL}/u/")
    assert mail[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def sent_mail() -> list[EmailMessage]:
    parser = BytesParser(policy=default_policy)
    messages = []
    for path in sorted((STATE / "mail").glob("*.eml")):
        with path.open("rb") as f:
            message = parser.parse(f)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return body.get_content() if isinstance(body, EmailMessage) else ""
