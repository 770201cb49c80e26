"""A journal in headless Chromium: a learner writes and asks for help now, sees the crisis
resources before anything else; a facilitator finds it first in the queue, claims it and
replies; the learner sees the reply and who opened the entry."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from forum.accounts.models import Role
from forum.courses.services import import_course
from forum.extensions import db
from forum.support.models import FacilitatorAssignment
from tests.conftest import TEST_PASSWORD
from tests.course_data import SMALL_COURSE

pytestmark = pytest.mark.e2e


@pytest.fixture
def people(app, make_user):
    with app.app_context():
        course = import_course(SMALL_COURSE).course
        db.session.commit()
        make_user(Role.PARTICIPANT, "lee@example.com", "Lee Learner")
        facilitator = make_user(Role.FACILITATOR, "fran@example.com", "Fran Facilitator")
        db.session.add(FacilitatorAssignment(user_id=facilitator.id, course_id=course.id))
        db.session.commit()


def _log_in(page, base: str, email: str) -> None:
    page.goto(base + "/account/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_help_now_reaches_the_top_of_the_queue_and_the_reply_comes_back(
    live_server, new_page, people
):
    base = live_server.url
    learner = new_page()
    _log_in(learner, base, "lee@example.com")
    learner.goto(base + "/c/allyship/noticing")
    learner.get_by_role("link", name="Write in your journal").click()
    expect(
        learner.get_by_role("heading", name=re.compile("who reads your journal"))
    ).to_be_visible()
    learner.get_by_label("Your entry").fill("This week was much harder than I expected.")
    learner.get_by_role("button", name="Save entry").click()
    expect(learner.get_by_text("Waiting to be read")).to_be_visible()

    learner.get_by_label("I need help now").check()
    learner.get_by_role("button", name="Ask for support").click()
    # The crisis resources come first: the first thing in the page's main content.
    first = learner.locator("main > *").first
    expect(first).to_have_class(re.compile("support-panel"))
    expect(first).to_contain_text("If you need help right now")
    expect(first).to_contain_text("Emergency services")

    staff = new_page()
    _log_in(staff, base, "fran@example.com")
    staff.get_by_role("link", name="Support queue").click()
    top = staff.locator(".queue-item").first
    expect(top).to_contain_text("Asked for help now")
    expect(top).to_contain_text("Lee Learner")
    expect(top).not_to_contain_text("much harder")
    top.get_by_role("button", name=re.compile("^Claim")).click()
    top = staff.locator(".queue-item").first
    expect(top).to_contain_text("Claimed by you")
    top.get_by_role("button", name=re.compile("^Open entry")).click()
    expect(staff.get_by_text("This week was much harder than I expected.")).to_be_visible()
    staff.get_by_label("Reply to Lee Learner").fill("Thank you for telling me. I'm here today.")
    staff.get_by_role("button", name="Send reply").click()
    expect(staff.get_by_text("Your reply is sent")).to_be_visible()

    learner.goto(base + "/journal")
    expect(learner.get_by_text("Thank you for telling me. I'm here today.")).to_be_visible()
    card = learner.locator(".journal-entry-card").first
    expect(card).to_contain_text("A facilitator replied")
    card.get_by_role("link", name="Module 1: Noticing").click()
    expect(learner.get_by_text("A facilitator replied")).to_be_visible()
    opened = learner.locator(".journal-access")
    expect(opened).to_contain_text("Fran Facilitator (facilitator)")
    expect(opened).to_contain_text("UTC")
