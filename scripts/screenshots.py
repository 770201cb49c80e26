"""Regenerate the README's screenshots: ``make screenshots`` (or ``.venv/bin/python
scripts/screenshots.py``).

Starts Hearth on the demo data in a throwaway instance folder (a fresh SQLite database,
``flask db upgrade``, ``flask demo seed``), logs in as each demo role in Debian's Chromium
(driven by Playwright, which never downloads a browser) and writes PNGs to
``docs/screenshots/``: desktop at 1280 pixels wide and phones at 390. Nothing in
``instance/`` is touched. Options: ``--out DIR``, ``--only NAME ...``.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from forum.demo import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
THREAD = "/c/learning-to-be-an-ally/noticing/first-memory"
MODULE = "/c/learning-to-be-an-ally/noticing"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
MAX_BYTES = 400_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flask(env: dict[str, str], *args: str, **kwargs) -> subprocess.Popen | None:
    command = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
    if kwargs.pop("background", False):
        return subprocess.Popen(command, cwd=ROOT, env=env, **kwargs)  # noqa: S603 (fixed argv)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)  # noqa: S603
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"flask {' '.join(args)} failed (exit status {done.returncode})")
    return None


def wait_until_up(url: str, server: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped (exit status {server.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own loopback URL)
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer at {url} within {seconds:.0f}s")


class Shooter:
    def __init__(self, browser, base: str, out: Path, only: set[str]):
        self.browser = browser
        self.base = base
        self.out = out
        self.only = only
        self.written: list[Path] = []

    def page(self, email: str | None, viewport=DESKTOP):
        context = self.browser.new_context(viewport=viewport, device_scale_factor=1)
        context.set_default_timeout(15_000)
        page = context.new_page()
        if email:
            page.goto(self.base + "/account/login")
            page.get_by_label("Email address").fill(email)
            page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
            page.get_by_role("button", name=re.compile("log in", re.I)).click()
            page.get_by_role("button", name="Log out").wait_for()
        return page

    def shot(self, page, name: str, prepare: Callable[[], None] | None = None) -> None:
        if self.only and name not in self.only:
            return
        if prepare is not None:
            prepare()
        page.wait_for_load_state("load")
        # No caret blinking or focus ring in the picture.
        page.evaluate("document.activeElement && document.activeElement.blur()")
        path = self.out / f"{name}.png"
        page.screenshot(path=str(path), full_page=False, animations="disabled")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SystemExit(f"{path.name} is {size:,} bytes, over {MAX_BYTES:,}")
        self.written.append(path)
        print(f"  {path.relative_to(ROOT)}  ({size // 1024} KB)")


def take_all(shooter: Shooter) -> None:
    base = shooter.base

    # A reader's view of a module and a participant's view of a thread.
    participant = shooter.page("participant@example.com")
    participant.goto(base + MODULE)
    shooter.shot(participant, "module")
    participant.goto(base + THREAD)
    shooter.shot(participant, "thread")
    participant.goto(base + "/notifications/preferences")
    shooter.shot(participant, "email-preferences")

    # The learner asks for help now on a hard journal entry: the crisis resources come first.
    participant.goto(base + "/journal")
    participant.locator(".journal-entry-card").filter(
        has_text="better off without me"
    ).first.get_by_role("link").first.click()
    participant.get_by_label("I need help now").check()
    participant.get_by_role("button", name="Ask for support").click()
    participant.get_by_text("If you need help right now").first.wait_for()
    shooter.shot(participant, "journal-entry-help-now")

    # The facilitator's queue (the request above at the top) and the dashboard.
    facilitator = shooter.page("facilitator@example.com")
    facilitator.goto(base + "/support/queue")
    shooter.shot(facilitator, "facilitator-queue")
    facilitator.goto(base + "/support/dashboard")
    shooter.shot(facilitator, "facilitator-dashboard")

    moderator = shooter.page("moderator@example.com")
    moderator.goto(base + "/moderation/queue")
    shooter.shot(moderator, "moderation-queue")

    # Phones.
    phone = shooter.page("participant2@example.com", viewport=PHONE)
    phone.goto(base + THREAD)
    shooter.shot(phone, "phone-thread")
    phone.goto(base + "/journal")
    shooter.shot(phone, "phone-journal")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", nargs="*", default=[], help="names without .png")
    args = parser.parse_args(argv)

    chromium = os.environ.get("HEARTH_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Debian's chromium is needed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hearth-screenshots-") as instance:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "HEARTH_ENV": "development",
            "HEARTH_INSTANCE_PATH": instance,
            "HEARTH_SECRET_KEY": secrets.token_hex(32),
            "HEARTH_BASE_URL": base,
            "HEARTH_NOTIFICATIONS_TRANSPORT": "file",
            # One browser logs in as five people in a minute.
            "HEARTH_RATELIMIT_ENABLED": "false",
        }
        env.pop("DATABASE_URL", None)
        env.pop("HEARTH_SQLALCHEMY_DATABASE_URI", None)
        print(f"Demo data in {instance} ...")
        flask(env, "db", "upgrade")
        flask(env, "demo", "seed")
        server = flask(
            env,
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            background=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert server is not None
        try:
            wait_until_up(base + "/", server)
            print(f"Screenshots of {base} into {args.out}:")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
                )
                try:
                    shooter = Shooter(browser, base, args.out, set(args.only))
                    take_all(shooter)
                finally:
                    browser.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print(f"{len(shooter.written)} screenshot(s) written.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
