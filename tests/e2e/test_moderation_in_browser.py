"""Moderation in headless Chromium: a participant flags a post, a moderator hides it with a
reason, the author sees why and appeals, and a second moderator decides the appeal."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from forum.accounts.models import Role
from forum.courses.models import Prompt
from forum.courses.services import import_course
from forum.extensions import db
from forum.threads.services import create_post
from tests.conftest import TEST_PASSWORD
from tests.course_data import SMALL_COURSE

pytestmark = pytest.mark.e2e

THREAD = "/c/allyship/noticing/first-memory"


def _log_in(page, base: str, email: str) -> None:
    page.goto(base + "/account/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_flag_hide_appeal_and_a_second_moderator_decides(live_server, new_page, make_user, app):
    author = make_user(Role.PARTICIPANT, email="ada@example.com", name="Ada")
    reader = make_user(Role.PARTICIPANT, email="ben@example.com", name="Ben")
    make_user(Role.MODERATOR, email="riley@example.com", name="Riley")
    make_user(Role.MODERATOR, email="sam@example.com", name="Sam")
    with app.app_context():
        import_course(SMALL_COURSE)
        db.session.commit()
        prompt = db.session.execute(
            db.select(Prompt).where(Prompt.slug == "first-memory")
        ).scalar_one()
        create_post(db.session.merge(author), prompt, "Those people are all the same.")
        db.session.commit()
    base = live_server.url

    # A participant flags the post.
    ben = new_page()
    _log_in(ben, base, reader.email)
    ben.goto(base + THREAD)
    ben.get_by_role("link", name=re.compile("^Flag")).first.click()
    ben.get_by_label("Harassment, hate or dehumanising language").check()
    ben.get_by_label(re.compile("Anything a moderator should know")).fill("Stereotyping")
    ben.get_by_role("button", name="Send to the moderators").click()
    expect(ben.get_by_role("status").first).to_contain_text("A moderator will look at this post")

    # A moderator finds it in the queue and hides it, with a reason.
    riley = new_page()
    _log_in(riley, base, "riley@example.com")
    riley.get_by_role("link", name="Moderation").click()
    expect(riley.get_by_role("heading", level=1)).to_have_text("Moderation queue")
    riley.locator("details summary").first.click()  # distressing: behind a click
    expect(riley.locator("details").first).to_contain_text("Those people are all the same.")
    riley.get_by_role("link", name=re.compile("^Review")).first.click()
    riley.get_by_label("Hide it").check()
    riley.get_by_label(re.compile("^Reason")).fill("Generalising about a group of people.")
    riley.get_by_role("button", name="Decide").click()
    expect(riley.get_by_role("status").first).to_contain_text("Decided")

    # Readers see a neutral placeholder.
    ben.goto(base + THREAD)
    expect(ben.locator("article").first).to_contain_text("hidden while a moderator looks at it")
    expect(ben.locator("article").first).not_to_contain_text("Those people")

    # The author sees the post, why, and appeals.
    ada = new_page(viewport={"width": 390, "height": 844})  # a phone
    _log_in(ada, base, author.email)
    ada.goto(base + THREAD)
    expect(ada.locator("article").first).to_contain_text("Those people are all the same.")
    ada.get_by_role("link", name="Why isn't this shown?").click()
    expect(ada.get_by_role("main")).to_contain_text("Generalising about a group of people.")
    expect(ada.get_by_role("main")).not_to_contain_text("Ben")
    ada.get_by_role("link", name="Appeal this decision").click()
    ada.get_by_label(re.compile("Why should another moderator")).fill(
        "I was describing what I used to think."
    )
    ada.get_by_role("button", name="Send my appeal").click()
    expect(ada.get_by_role("status").first).to_contain_text("Your appeal is sent")

    # The first moderator may not decide the appeal; a second one does.
    riley.goto(base + "/moderation/queue")
    riley.get_by_role("link", name=re.compile("^Appeal from Ada")).click()
    expect(riley.get_by_role("main")).to_contain_text("a different moderator must decide")
    sam = new_page()
    _log_in(sam, base, "sam@example.com")
    sam.goto(base + "/moderation/queue")
    sam.get_by_role("link", name=re.compile("^Appeal from Ada")).click()
    sam.get_by_label(re.compile("^Accept the appeal")).check()
    sam.get_by_label(re.compile("^Reason")).fill(
        "Read in context, it is a reflection on a past view."
    )
    sam.get_by_role("button", name="Decide the appeal").click()
    expect(sam.get_by_role("status").first).to_contain_text("The appeal is decided")

    ben.goto(base + THREAD)
    expect(ben.locator("article").first).to_contain_text("Those people are all the same.")
    ada.goto(base + "/moderation/notices")
    expect(ada.get_by_role("main")).to_contain_text("Your appeal was accepted")
