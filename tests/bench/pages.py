"""Pages at scale, over the ceiling in the same run: ``python -m tests.bench.pages``.

Seeds a large data set (tests/bench/seed_large.py) into a fresh database (a temporary
SQLite file, or a scratch PostgreSQL database made from ``--database-url`` and dropped
after), serves Hearth with gunicorn in its production configuration on 127.0.0.1, and
beside it the ceiling: a bare Flask app (tests/bench/ceiling_app.py) under the same gunicorn
settings that returns a pre-built page of the same byte size. ``wrk`` drives both in turn
(ceiling, page A, ceiling, page B, ...) so drift on a shared machine hits both alike.

For each page it prints requests per second, p50 and p99 latency, the servers' CPU time per
request (gunicorn master and workers, utime+stime from /proc, before and after each run),
and the ratio ceiling CPU per request / page CPU per request: 1.0 is as cheap as the
ceiling. Goal from the issue: the anonymous thread page at least 0.5. Creating a post is
driven by wrk with tests/bench/wrk_post.lua (a fresh idempotency key per request).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
POSTS_PER_PAGE = 50
PAGE_KEYS = (
    "thread_first",
    "thread_last",
    "thread_signed_in",
    "module",
    "course",
    "support_queue",
    "moderation_queue",
    "new_post",
)


# --- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _cpu_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def _rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
    except OSError:
        return 0


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path
    workers: int

    def pids(self) -> list[int]:
        return [self.process.pid, *_children(self.process.pid)]

    def worker_pids(self) -> list[int]:
        return _children(self.process.pid)

    def cpu_seconds(self) -> float:
        return sum(_cpu_ticks(pid) for pid in self.pids()) / CLOCK_TICKS

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


@functools.cache
def _gunicorn_has_control_socket() -> bool:
    shown = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True, timeout=30
    )
    return "--no-control-socket" in shown.stdout


def start_gunicorn(
    name: str,
    target: str,
    env: dict[str, str],
    workers: int,
    folder: Path,
    ready_path: str = "/",
    timeout: float = 60,
) -> Server:
    port = free_port()
    log_path = folder / f"{name}-gunicorn.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "60",
        "--graceful-timeout",
        "5",
    ]
    if _gunicorn_has_control_socket():
        # Newer gunicorns open a control socket in ~/.gunicorn shared by every server on
        # the machine; ours must not take it over from anyone else's.
        command.append("--no-control-socket")
    command.append(target)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() kills master and workers
        )
    server = Server(name, port, process, log_path, workers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn for {name} exited with {process.returncode}:\n{server.log_tail()}"
                )
            if len(server.worker_pids()) >= workers:
                # A bound port isn't enough: workers that fail to load the app still bind it.
                try:
                    reply = fetch(port, "GET", ready_path, timeout=5)
                except (OSError, http.client.HTTPException):
                    reply = None
                if reply is not None and reply.status < 500:
                    return server
            time.sleep(0.2)
        raise RuntimeError(
            f"gunicorn for {name} did not start in {timeout:.0f} s:\n{server.log_tail()}"
        )
    except BaseException:
        server.stop()
        raise


# --- HTTP helpers ------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes
    cookies: dict[str, str]
    location: str | None


def fetch(
    port: int,
    method: str,
    path: str,
    cookie: str = "",
    form: dict | None = None,
    timeout: float = 60,
) -> Reply:
    """One request, keeping Set-Cookie whatever its Secure flag (we speak plain http)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Cookie": cookie} if cookie else {}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        cookies = {}
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            cookies[name.strip()] = rest.split(";", 1)[0]
        return Reply(response.status, data, cookies, response.getheader("Location"))
    finally:
        connection.close()


def _cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items() if v)


CSRF_RE = re.compile(
    rb'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"|<input[^>]*value="([^"]+)"[^>]*name="csrf_token"'
)


def csrf_token(html: bytes) -> str | None:
    match = CSRF_RE.search(html)
    if not match:
        return None
    return (match.group(1) or match.group(2)).decode()


def log_in(port: int, email: str, password: str) -> dict[str, str]:
    """Log in through the login form (CSRF and all) and return the cookie jar."""
    jar: dict[str, str] = {}
    page = fetch(port, "GET", "/account/login")
    jar.update(page.cookies)
    token = csrf_token(page.body)
    if page.status != 200 or not token:
        raise RuntimeError(
            f"login form: status {page.status}, csrf token {'found' if token else 'missing'}"
        )
    form = {"csrf_token": token, "email": email, "password": password, "next": ""}
    reply = fetch(port, "POST", "/account/login", _cookie_header(jar), form)
    # The session cookie's name depends on the configuration (in production it carries the
    # __Host- prefix): a successful login is a redirect that sets a new session cookie.
    if reply.status not in (302, 303) or not any(
        jar.get(name) != value for name, value in reply.cookies.items()
    ):
        raise RuntimeError(
            f"logging in as {email} failed: status {reply.status}, "
            f"cookies set: {sorted(reply.cookies)}"
        )
    jar.update(reply.cookies)
    return jar


def settle(port: int, path: str, jar: dict[str, str]) -> Reply:
    """GET ``path`` until the session cookie stops changing (a CSRF token lands in it)."""
    for _ in range(4):
        reply = fetch(port, "GET", path, _cookie_header(jar))
        if not reply.cookies or all(jar.get(k) == v for k, v in reply.cookies.items()):
            return reply
        jar.update(reply.cookies)
    return reply


# --- wrk ---------------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class WrkResult:
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0  # HTTP status >= 400
    socket_errors: int = 0


def _ms(value: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", value.strip())
    if not match:
        return float("nan")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    result = WrkResult()
    if m := re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m)", output):
        result.requests = int(m.group(1))
        result.seconds = _ms(m.group(2) + m.group(3)) / 1000
    if m := re.search(r"Requests/sec:\s+([0-9.]+)", output):
        result.rps = float(m.group(1))
    if m := re.search(r"^\s+50%\s+(\S+)", output, re.M):
        result.p50_ms = _ms(m.group(1))
    if m := re.search(r"^\s+99%\s+(\S+)", output, re.M):
        result.p99_ms = _ms(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        result.errors = int(m.group(1))
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        result.socket_errors = sum(int(g) for g in m.groups())
    return result


def run_wrk(
    url: str,
    args,
    cookie: str = "",
    script: Path | None = None,
    script_args: list[str] | None = None,
) -> WrkResult:
    command = [
        args.wrk,
        "-t",
        str(args.threads),
        "-c",
        str(args.connections),
        "-d",
        f"{args.duration}s",
        "--latency",
        "--timeout",
        "30s",
    ]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    if script:
        command += ["-s", str(script)]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    result = parse_wrk(done.stdout)
    if not result.requests:
        raise RuntimeError(f"wrk made no requests:\n{done.stdout}\n{done.stderr}")
    return result


# --- the benchmark -----------------------------------------------------------------------


@dataclass
class Page:
    name: str
    path: str
    jar: dict[str, str] | None = None
    method: str = "GET"
    size: int = 0
    posts_shown: int | None = None


@dataclass
class Measured:
    name: str
    path: str
    bytes: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_ms_per_request: float
    ceiling_rps: float
    ceiling_p50_ms: float
    ceiling_p99_ms: float
    ceiling_cpu_ms_per_request: float
    cpu_ratio: float  # ceiling CPU per request / page CPU per request (1.0 = as cheap)
    # PostgreSQL only: its backends' CPU per request (SQLite's work is inside the workers).
    db_cpu_ms_per_request: float | None = None
    cpu_ratio_with_db: float | None = None
    posts_shown: int | None = None
    notes: list[str] = field(default_factory=list)


def measure(server: Server, url: str, args, db_clock=None, **wrk_kwargs):
    """Run wrk; returns its result, the server's CPU seconds and the database's (or None)."""
    db_before = db_clock() if db_clock else {}
    before = server.cpu_seconds()
    result = run_wrk(url, args, **wrk_kwargs)
    # Let requests still in flight finish before reading the CPU clock again.
    time.sleep(0.5)
    after = server.cpu_seconds()
    db_seconds = None
    if db_clock:
        db_after = db_clock()
        ticks = sum(t - db_before.get(pid, 0) for pid, t in db_after.items())
        db_seconds = ticks / CLOCK_TICKS
    return result, after - before, db_seconds


def postgres_clock(engine):
    """CPU ticks of the PostgreSQL backends serving this database (a local server only)."""
    from sqlalchemy import text

    def clock() -> dict[int, int]:
        with engine.connect() as conn:
            pids = conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalars()
            return {pid: _cpu_ticks(pid) for pid in pids}

    return clock


def _scratch_postgres(url: str) -> tuple[str, str, Any]:
    """Create a scratch database next to ``url``'s; returns (new url, name, admin engine)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(
        url.replace("postgresql://", "postgresql+psycopg://", 1)
        if url.startswith("postgresql://")
        else url
    )
    name = f"hearth_bench_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return base.set(database=name).render_as_string(hide_password=False), name, admin


def _drop_postgres(admin, name: str) -> None:
    from sqlalchemy import text

    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("HEARTH_") and k != "DATABASE_URL"
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.pages", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("HEARTH_BENCH_DATABASE_URL"),
        help="PostgreSQL server to make a scratch database on (dropped after); "
        "default: a temporary SQLite file",
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (5)")
    parser.add_argument("--connections", type=int, default=4, help="wrk -c (4)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, both servers (2)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="fraction of the full data set (1.0 = 5,000 users, 50,000 posts, "
        "100,000 journal entries, 10,000 review items)",
    )
    parser.add_argument(
        "--json",
        default=str(ROOT / "instance" / "bench-pages.json"),
        help="where to write the results (instance/bench-pages.json)",
    )
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        metavar="PAGE",
        help="measure only these: " + ", ".join(PAGE_KEYS),
    )
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which(args.wrk):
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    # A plain `kill` must still stop the servers and drop the scratch database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix="hearth-bench-pages-"))
    scratch = None
    try:
        if args.database_url:
            url, name, admin = _scratch_postgres(args.database_url)
            scratch = (admin, name)
            backend = f"PostgreSQL (scratch database {name})"
        else:
            url = f"sqlite:///{folder / 'bench.sqlite3'}"
            backend = "SQLite (temporary file)"
        return _run(args, url, backend, folder)
    finally:
        if scratch:
            _drop_postgres(*scratch)
        shutil.rmtree(folder, ignore_errors=True)


def _run(args, url: str, backend: str, folder: Path) -> int:
    from forum import create_app
    from tests.bench.seed_large import PASSWORD, Counts, build_schema, seed

    secret = secrets.token_hex(32)
    seeding_app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": secret,
            "SQLALCHEMY_DATABASE_URI": url,
            "BASE_URL": "http://127.0.0.1:1",
        }
    )
    rules = {rule.rule for rule in seeding_app.url_map.iter_rules()}
    full = Counts()
    s = args.scale
    counts = Counts(
        users=max(50, int(full.users * s)),
        posts=max(200, int(full.posts * s)),
        long_thread_posts=max(150, int(full.long_thread_posts * s)),
        journal_entries=max(300, int(full.journal_entries * s)),
        review_items=max(30, int(full.review_items * s)),
    )
    print(f"database: {backend}", flush=True)
    started = time.perf_counter()
    outside = build_schema(seeding_app)
    schema_seconds = time.perf_counter() - started
    report = seed(seeding_app, counts)
    report.created_outside_migrations = outside
    print(
        f"schema: alembic upgrade head in {schema_seconds:.1f} s"
        + (f"; db.create_all() made {', '.join(outside)} (no migration yet)" if outside else "")
    )
    print(
        f"seeded in {report.seconds:.1f} s: "
        + ", ".join(f"{k} {v:,}" for k, v in report.counts.items()),
        flush=True,
    )
    for note in report.notes:
        print(f"note: {note}")

    port_hint = free_port()
    hearth_env = _clean_env(
        {
            "HEARTH_ENV": "production",
            "HEARTH_SECRET_KEY": secret,
            "HEARTH_BASE_URL": f"http://127.0.0.1:{port_hint}",
            "HEARTH_SQLALCHEMY_DATABASE_URI": url,
            "HEARTH_POSTS_PER_PAGE": str(POSTS_PER_PAGE),
            "HEARTH_INSTANCE_PATH": str(folder / "instance"),
            # The limiter stays on (its cost is part of a request), with room for a benchmark.
            "HEARTH_POST_RATE_LIMIT": "100000000 per minute",
        }
    )
    servers: list[Server] = []
    results: list[Measured] = []
    memory: dict[str, list[int]] = {}
    try:
        hearth = start_gunicorn(
            "hearth", "wsgi:app", hearth_env, args.workers, folder, "/account/login"
        )
        servers.append(hearth)
        ceiling = start_gunicorn(
            "ceiling", "tests.bench.ceiling_app:app", _clean_env({}), args.workers, folder, "/0"
        )
        servers.append(ceiling)
        print(
            f"gunicorn: {args.workers} sync workers each; hearth on 127.0.0.1:{hearth.port}, "
            f"ceiling on 127.0.0.1:{ceiling.port}; wrk -t {args.threads} -c "
            f"{args.connections} -d {args.duration}s",
            flush=True,
        )

        participant = log_in(hearth.port, report.participant_email, PASSWORD)
        facilitator = log_in(hearth.port, report.facilitator_email, PASSWORD)
        moderator = log_in(hearth.port, report.moderator_email, PASSWORD)
        thread = f"/c/{report.course_slug}/{report.module_slug}/{report.long_prompt_slug}"
        last = math.ceil(counts.long_thread_posts / POSTS_PER_PAGE)
        first_page_posts = min(POSTS_PER_PAGE, counts.long_thread_posts)
        last_page_posts = counts.long_thread_posts - (last - 1) * POSTS_PER_PAGE
        pages = {
            "thread_first": Page("thread, anonymous, page 1", thread),
            "thread_last": Page(f"thread, anonymous, last page ({last})", f"{thread}?page={last}"),
            "thread_signed_in": Page(
                "thread, signed in (participant), page 1", thread, participant
            ),
            "module": Page(
                "module page, anonymous", f"/c/{report.course_slug}/{report.module_slug}"
            ),
            "course": Page("course page, anonymous", f"/c/{report.course_slug}"),
            "support_queue": Page(
                "facilitator queue (/support/queue)", "/support/queue", facilitator
            ),
        }
        skipped = []
        if "/moderation/queue" in rules:
            pages["moderation_queue"] = Page(
                "moderation queue (/moderation/queue)", "/moderation/queue", moderator
            )
        else:
            skipped.append("moderation queue: no /moderation/queue route in the app")
        if not report.moderation_seeded:
            skipped.append("review items: moderation.models.ReviewItem missing, none seeded")
        other = f"/c/{report.course_slug}/{report.module_slug}/{report.other_prompt_slug}"
        pages["new_post"] = Page(
            "create a post (POST, wrk + Lua)", f"{other}/posts", participant, method="POST"
        )
        if args.only:
            pages = {k: v for k, v in pages.items() if k in args.only}

        # Check every page once (status, size), let the session cookies settle, warm up.
        post_form: dict[str, str] = {}
        for key, page in pages.items():
            jar = page.jar if page.jar is not None else {}
            if page.method == "POST":
                shown = settle(hearth.port, other, jar)
                token = csrf_token(shown.body)
                if not token:
                    shown = settle(hearth.port, page.path, jar)  # the compose page
                    token = csrf_token(shown.body)
                if not token:
                    raise RuntimeError("no CSRF token on the thread or compose page")
                post_form = {
                    "csrf_token": token,
                    "idempotency_key": secrets.token_urlsafe(24),
                    "body": "A reflection to check the form.",
                }
                reply = fetch(hearth.port, "POST", page.path, _cookie_header(jar), post_form)
                if reply.status != 303:
                    raise RuntimeError(f"{page.name}: status {reply.status}\n{reply.body[:2000]!r}")
                page.size = len(reply.body)
                continue
            reply = settle(hearth.port, page.path, jar)
            if reply.status != 200:
                raise RuntimeError(
                    f"{page.name}: {page.path} answered {reply.status}\n"
                    f"{reply.body[:2000]!r}\n{hearth.log_tail()}"
                )
            page.size = len(reply.body)
            if key.startswith("thread"):
                page.posts_shown = len(set(re.findall(rb'id="post-(\d+)"', reply.body)))
                expected = last_page_posts if key == "thread_last" else first_page_posts
                if page.posts_shown != expected:
                    # Numbers for a page that doesn't show its posts would mean nothing.
                    raise RuntimeError(
                        f"{page.name}: {page.posts_shown} posts shown (looked for "
                        f'id="post-N"), expected {expected}: the page is broken or its markup '
                        f"changed. Start of the page:\n{reply.body[:1500].decode(errors='replace')}"
                    )
            for _ in range(5):
                fetch(hearth.port, "GET", page.path, _cookie_header(jar))
                fetch(ceiling.port, "GET", f"/{page.size}")

        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        count_engine = create_engine(
            seeding_app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool
        )
        db_clock = None
        if count_engine.dialect.name == "postgresql":
            db_clock = postgres_clock(count_engine)
            if not db_clock() or not any(db_clock().values()):
                db_clock = None  # not a local server: its backends' CPU can't be read
        for page in pages.values():
            ceiling_url = f"http://127.0.0.1:{ceiling.port}/{page.size}"
            hearth_url = f"http://127.0.0.1:{hearth.port}{page.path}"
            cookie = _cookie_header(page.jar) if page.jar else ""
            notes = []
            if page.method == "POST":
                lua = HERE / "wrk_post.lua"
                body = urllib.parse.quote_plus("A reflection posted by the benchmark.")
                c_res, c_cpu, _ = measure(
                    ceiling,
                    ceiling_url,
                    args,
                    script=lua,
                    script_args=[f"/{page.size}", "", "x", body],
                )
                with count_engine.connect() as conn:
                    before = conn.execute(text("SELECT COUNT(*) FROM posts")).scalar_one()
                h_res, h_cpu, db_cpu = measure(
                    hearth,
                    hearth_url,
                    args,
                    db_clock=db_clock,
                    script=lua,
                    script_args=[
                        page.path,
                        cookie,
                        urllib.parse.quote_plus(post_form["csrf_token"]),
                        body,
                    ],
                )
                with count_engine.connect() as conn:
                    after = conn.execute(text("SELECT COUNT(*) FROM posts")).scalar_one()
                stored = after - before
                notes.append(
                    f"{stored} posts stored for {h_res.requests} responses counted by "
                    "wrk (each request has its own idempotency key; requests still in "
                    "flight when wrk stops are stored but not counted, so CPU per "
                    "request is divided by the posts stored)"
                )
                if stored < h_res.requests:
                    raise RuntimeError(f"only {stored} posts stored for {h_res.requests} requests")
                served = stored
            else:
                c_res, c_cpu, _ = measure(ceiling, ceiling_url, args)
                h_res, h_cpu, db_cpu = measure(
                    hearth, hearth_url, args, db_clock=db_clock, cookie=cookie
                )
                served = h_res.requests
            # CPU seconds -> milliseconds per request.
            c_cpu = c_cpu * 1000 / c_res.requests
            h_cpu = h_cpu * 1000 / served
            db_ms = db_cpu * 1000 / served if db_cpu is not None else None
            if h_res.errors or h_res.socket_errors:
                notes.append(f"{h_res.errors} HTTP errors, {h_res.socket_errors} socket errors")
            measured = Measured(
                name=page.name,
                path=page.path,
                bytes=page.size,
                rps=h_res.rps,
                p50_ms=h_res.p50_ms,
                p99_ms=h_res.p99_ms,
                requests=h_res.requests,
                errors=h_res.errors + h_res.socket_errors,
                cpu_ms_per_request=h_cpu,
                ceiling_rps=c_res.rps,
                ceiling_p50_ms=c_res.p50_ms,
                ceiling_p99_ms=c_res.p99_ms,
                ceiling_cpu_ms_per_request=c_cpu,
                cpu_ratio=c_cpu / h_cpu if h_cpu else float("nan"),
                db_cpu_ms_per_request=db_ms,
                cpu_ratio_with_db=c_cpu / (h_cpu + db_ms) if db_ms is not None else None,
                posts_shown=page.posts_shown,
                notes=notes,
            )
            results.append(measured)
            print(
                f"  {page.name}: {h_res.rps:,.0f} req/s, {h_cpu:.2f} ms CPU/req"
                + (f" (+ {db_ms:.2f} ms in PostgreSQL)" if db_ms is not None else "")
                + f", ratio {measured.cpu_ratio:.3f}",
                flush=True,
            )
        count_engine.dispose()
        for server in servers:
            memory[server.name] = [_rss_bytes(pid) for pid in server.worker_pids()]
        hearth_log = hearth.log_tail(200_000)
    finally:
        for server in servers:
            server.stop()

    _print_table(results, memory, skipped, args, backend)
    payload = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": _machine(),
        "backend": backend,
        "tree": _tree(),
        "settings": {
            "duration_s": args.duration,
            "connections": args.connections,
            "threads": args.threads,
            "workers": args.workers,
            "scale": args.scale,
            "posts_per_page": POSTS_PER_PAGE,
        },
        "seed": report.as_dict(),
        "pages": [asdict(r) for r in results],
        "last_vs_first": _last_vs_first(results),
        "worker_rss_bytes": memory,
        "skipped": skipped,
    }
    json_path = Path(args.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(payload, indent=2, default=str))
    print(f"results written to {json_path}")
    if "Traceback" in hearth_log:
        print("warning: the Hearth server logged a traceback:\n" + hearth_log[-3000:])
    return 0


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": sys.version.split()[0],
        # Other work on a shared machine shows here; the ratios are measured side by side.
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _tree() -> str:
    """The commit measured, and whether the working tree differed from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{' + uncommitted changes' if dirty else ''}"


def _last_vs_first(results: list[Measured]) -> dict[str, float] | None:
    first = next((r for r in results if r.name.startswith("thread, anonymous, page 1")), None)
    last = next((r for r in results if r.name.startswith("thread, anonymous, last page")), None)
    if not first or not last:
        return None
    found = {
        "cpu_per_request": last.cpu_ms_per_request / first.cpu_ms_per_request,
        "p50": last.p50_ms / first.p50_ms if first.p50_ms else float("nan"),
        "rps": last.rps / first.rps if first.rps else float("nan"),
    }
    if last.db_cpu_ms_per_request is not None and first.db_cpu_ms_per_request is not None:
        found["cpu_with_db_per_request"] = (
            last.cpu_ms_per_request + last.db_cpu_ms_per_request
        ) / (first.cpu_ms_per_request + first.db_cpu_ms_per_request)
    return found


def _print_table(results: list[Measured], memory, skipped, args, backend: str) -> None:
    machine = _machine()
    print()
    print(f"code: {_tree()}")
    print(
        f"{backend}; {machine['nproc']} CPUs ({machine['cpu']}); gunicorn {args.workers} "
        f"sync workers; wrk -t{args.threads} -c{args.connections} -d{args.duration}s; "
        f"{POSTS_PER_PAGE} posts per page; load average at the end "
        f"{machine['load_average'][0]:.1f}"
    )
    with_db = any(r.db_cpu_ms_per_request is not None for r in results)
    header = (
        f"{'page':42} {'bytes':>7} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU ms/req':>10} {'ceil req/s':>10} {'ceil CPU':>8} {'ratio':>6}"
    )
    if with_db:
        header += f" {'db ms/req':>9} {'ratio+db':>8}"
    print(header)
    print("-" * len(header))
    for r in results:
        line = (
            f"{r.name[:42]:42} {r.bytes:>7,} {r.rps:>6,.0f} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} "
            f"{r.cpu_ms_per_request:>10.2f} {r.ceiling_rps:>10,.0f} "
            f"{r.ceiling_cpu_ms_per_request:>8.2f} {r.cpu_ratio:>6.3f}"
        )
        if with_db:
            db_ms, ratio = r.db_cpu_ms_per_request, r.cpu_ratio_with_db
            line += f" {db_ms:>9.2f} {ratio:>8.3f}" if db_ms is not None else ""
        print(line)
    print(
        "CPU = gunicorn master + workers (utime+stime from /proc); ratio = ceiling CPU per "
        "request / page CPU per request\n(1.0 = as cheap as the ceiling; the issue's goal for "
        "the anonymous thread page: >= 0.5)"
    )
    if with_db:
        print(
            "db ms/req = CPU of this database's PostgreSQL backends per request; ratio+db = "
            "ceiling CPU / (page CPU + db CPU)"
        )
    for r in results:
        if r.posts_shown is not None:
            print(f"posts shown on '{r.name}': {r.posts_shown}")
        for note in r.notes:
            print(f"{r.name}: {note}")
    lvf = _last_vs_first(results)
    if lvf:
        print(
            "long thread, last page vs first page: "
            f"CPU per request x{lvf['cpu_per_request']:.2f}, "
            f"p50 x{lvf['p50']:.2f}, req/s x{lvf['rps']:.2f}"
            + (
                f", CPU incl. PostgreSQL x{lvf['cpu_with_db_per_request']:.2f}"
                if "cpu_with_db_per_request" in lvf
                else ""
            )
        )
    for name, sizes in memory.items():
        shown = ", ".join(f"{size / 2**20:.0f} MiB" for size in sizes)
        print(f"RSS per {name} worker after the run: {shown}")
    for note in skipped:
        print(f"skipped: {note}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
