"""Hostile strings rendered in Chromium with the CSP bypassed run no script: the journal
entry page (author's and staff's view), the support queue item, the moderation item page.

All strings go through HTTP in tests/test_hostile_input.py; here a fixed sample of about
50 is written (over HTTP, by the live app) and each page is loaded in the browser."""

from __future__ import annotations

import random
import re
import secrets

import pytest
from playwright.sync_api import expect

from forum.accounts.models import Role
from forum.courses.services import import_course
from forum.extensions import db
from forum.support.models import TriageItem
from moderation.models import ReviewItem
from tests.conftest import TEST_PASSWORD
from tests.course_data import SMALL_COURSE
from tests.hostile import hostile_strings

pytestmark = pytest.mark.e2e

SAMPLE_SIZE = 50
THREAD = "/c/allyship/noticing/first-memory"
MODULE_NEW = "/journal/c/allyship/noticing/new"
# Replaces the dialog functions before any page script runs; records every call.
TRAP = (
    "window.__hearth_xss = [];"
    " for (const f of ['alert', 'confirm', 'prompt', 'print', 'open'])"
    "   window[f] = (...a) => window.__hearth_xss.push(f + ':' + a.join(','));"
)


@pytest.fixture
def app_config():
    return {
        "SUPPORT_CONCERNS_PER_DAY": 10_000,
        "MODERATION_FLAGS_PER_DAY": 10_000,
        "MODERATION_NEW_ACCOUNT_DAYS": 0,
        "MODERATION_NEW_ACCOUNT_POSTS": 0,
        "MODERATION_DUPLICATE_HOURS": 0,
    }


def sample() -> list[str]:
    strings = hostile_strings()
    return random.Random(2026).sample(strings, min(SAMPLE_SIZE, len(strings)))


def _client(app, user):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    return client


@pytest.fixture
def written(app, make_user):
    """Each sampled string as a journal entry, a learner's answer and a facilitator's
    reply; as a post with a concern note, and a flag note and a moderator's reason."""
    from forum.support.models import FacilitatorAssignment

    ada = make_user(Role.PARTICIPANT, "ada@example.com", "Ada")
    otto = make_user(Role.PARTICIPANT, "otto@example.com", "Otto")
    fay = make_user(Role.FACILITATOR, "fay@example.com", "Fay")
    mo = make_user(Role.MODERATOR, "mo@example.com", "Mo")
    with app.app_context():
        course = import_course(SMALL_COURSE).course
        db.session.add(FacilitatorAssignment(user_id=fay.id, course_id=course.id))
        db.session.commit()
    as_ada, as_otto, as_fay, as_mo = (_client(app, u) for u in (ada, otto, fay, mo))
    entries, posts = [], []
    for text in sample():
        made = as_ada.post(MODULE_NEW, data={"body": text})
        if made.status_code == 303:
            entry_id = int(made.headers["Location"].rsplit("/", 1)[1])
            entries.append(entry_id)
            as_ada.post(f"/journal/entries/{entry_id}/replies", data={"body": text})
            as_fay.post(f"/journal/entries/{entry_id}/open")
            as_fay.post(f"/journal/entries/{entry_id}/replies", data={"body": text})
            as_ada.post(f"/journal/entries/{entry_id}/support", data={"urgency": "today"})
        made = as_ada.post(
            THREAD + "/posts", data={"body": text, "idempotency_key": secrets.token_urlsafe(24)}
        )
        if made.status_code == 303:
            post_id = int(made.headers["Location"].split("/posts/", 1)[1].split("#")[0])
            posts.append(post_id)
            as_otto.post(f"/support/posts/{post_id}/concern", data={"note": text})
            as_otto.post(f"/posts/{post_id}/flag", data={"reason": "other", "note": text})
    with app.app_context():
        items = db.session.execute(db.select(ReviewItem)).scalars().all()
        moderation = [(i.id, i.version) for i in items]
        queue = list(db.session.execute(db.select(TriageItem.id)).scalars())
    strings = sample()
    for number, (item_id, version) in enumerate(moderation):
        action = ("hide", "request_revision", "remove")[number % 3]
        as_mo.post(
            f"/moderation/items/{item_id}/decide",
            data={
                "action": action,
                "reason": strings[number % len(strings)],
                "version": str(version),
            },
        )
    assert len(entries) >= len(strings) * 0.8 and len(posts) >= len(strings) * 0.8
    assert moderation and queue
    return {
        "entries": entries,
        "moderation": [i for i, _ in moderation],
        "queue": queue,
    }


def _log_in(page, base: str, email: str) -> None:
    page.goto(base + "/account/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def _hostile_page(new_page):
    page = new_page(bypass_csp=True, java_script_enabled=True)
    page.add_init_script(TRAP)
    page.console_messages = []
    page.on("console", lambda message: page.console_messages.append(message.text))
    return page


def _nothing_fired(page, where: str) -> list[str]:
    page.mouse.move(5, 5)
    page.keyboard.press("Tab")
    fired = page.evaluate("window.__hearth_xss") + page.dialogs
    fired += [m for m in page.console_messages if re.search(r"hearth-\d|xss|alert", m, re.I)]
    found = page.locator(
        "main script, main iframe, main object, main embed, main svg, main img, main [onerror]"
    ).count()
    return [f"{where}: {fired}"] if fired or found else []


def test_journal_entries_queue_items_and_moderation_items_run_no_script(
    live_server, new_page, written
):
    base = live_server.url
    problems = []

    author = _hostile_page(new_page)
    _log_in(author, base, "ada@example.com")
    author.goto(base + "/journal")
    problems += _nothing_fired(author, "/journal")
    for entry_id in written["entries"]:
        author.goto(f"{base}/journal/entries/{entry_id}")
        problems += _nothing_fired(author, f"entry {entry_id} (author)")

    facilitator = _hostile_page(new_page)
    _log_in(facilitator, base, "fay@example.com")
    for entry_id in written["entries"][:25]:  # the staff view: open the entry (logged)
        facilitator.goto(f"{base}/journal/entries/{entry_id}")
        facilitator.get_by_role("button", name=re.compile("open", re.I)).first.click()
        facilitator.wait_for_load_state("load")
        problems += _nothing_fired(facilitator, f"entry {entry_id} (staff)")
    facilitator.goto(base + "/support/queue")
    problems += _nothing_fired(facilitator, "/support/queue")
    for item_id in written["queue"]:
        facilitator.goto(f"{base}/support/queue/{item_id}")
        problems += _nothing_fired(facilitator, f"queue item {item_id}")

    moderator = _hostile_page(new_page)
    _log_in(moderator, base, "mo@example.com")
    for path in ("/moderation/queue", "/moderation/queue?state=hidden", "/moderation/audit"):
        moderator.goto(base + path)
        problems += _nothing_fired(moderator, path)
    for item_id in written["moderation"]:
        moderator.goto(f"{base}/moderation/items/{item_id}")
        problems += _nothing_fired(moderator, f"moderation item {item_id}")
    author.goto(base + "/moderation/notices")
    problems += _nothing_fired(author, "/moderation/notices")
    assert not problems


def test_the_trap_can_fire(live_server, new_page):
    page = _hostile_page(new_page)
    page.goto(live_server.url + "/guidelines")
    page.evaluate("alert('hearth-0')")
    assert _nothing_fired(page, "guidelines")
