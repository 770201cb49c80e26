"""What a newcomer tripped on, in headless Chromium: long text is never cut silently, and
the accounts table fits a phone and a laptop without sideways scrolling."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from forum.accounts.models import Role
from forum.courses import DEMO_COURSE_FILE
from forum.courses.services import import_course, read_course_file
from forum.extensions import db
from forum.threads.models import Post
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.e2e

LIMIT = 10_000


@pytest.fixture
def thread_path(app) -> str:
    with app.app_context():
        course = import_course(read_course_file(DEMO_COURSE_FILE)).course
        db.session.commit()
        module = course.modules[0]
        return f"/c/{course.slug}/{module.slug}/{module.prompts[0].slug}"


def _log_in(page, base_url: str, email: str) -> None:
    page.goto(base_url + "/account/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_long_text_is_kept_whole_counted_and_refused_with_a_message(
    live_server, new_page, make_user, thread_path, app
):
    writer = make_user(name="Writer")
    page = new_page()
    _log_in(page, live_server.url, writer.email)
    page.goto(live_server.url + thread_path)

    expect(page.get_by_text("Reflections are public: anyone can read them.")).to_be_visible()
    box = page.get_by_role("textbox", name="Your reflection")
    assert box.get_attribute("maxlength") is None
    assert box.get_attribute("data-limit") == str(LIMIT)

    # 10,050 characters of ordinary prose; fill() behaves like a paste.
    sentence = "I keep noticing who speaks first in meetings. "
    text = (sentence * 300)[: LIMIT + 49] + "!"
    assert len(text) == LIMIT + 50
    box.fill(text)

    counter = page.locator("#body-count")
    expect(counter).to_have_text("50 characters over the limit of 10,000. Please shorten it.")
    expect(box).to_have_attribute("aria-invalid", "true")
    assert box.input_value() == text  # nothing was cut

    page.get_by_role("button", name="Post reflection").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add your reflection")
    expect(page.locator(".field-error")).to_contain_text(
        "Your reflection is 10,050 characters long; the limit is 10,000."
    )
    box = page.get_by_role("textbox", name="Your reflection")
    assert box.input_value() == text
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(counter).to_have_text("50 characters over the limit of 10,000. Please shorten it.")

    # Shortening it clears the mark, and the post goes through.
    box.fill(text[: LIMIT - 1] + ".")
    expect(counter).to_have_text("You've reached the limit of 10,000 characters.")
    assert box.get_attribute("aria-invalid") is None
    page.get_by_role("button", name="Post reflection").click()
    expect(page.get_by_text("Your reflection is posted.")).to_be_visible()
    with app.app_context():
        lengths = [len(p.body_source) for p in db.session.scalars(db.select(Post))]
    assert lengths == [LIMIT]


# No hyphens: browsers may break a line at a hyphen, but never at a dot or an "@".
LONG_EMAILS = [
    f"someone.with.a.remarkably.long.address.number{i}@continuingeducationdepartment"
    ".universityofsomewherequitefaraway.example.org"
    for i in range(5)
]


@pytest.mark.parametrize("width", [1280, 375])
def test_accounts_table_fits_without_sideways_scrolling(live_server, new_page, make_user, width):
    admin = make_user(role=Role.ADMIN, name="Admin with a fairly long display name")
    for i, email in enumerate(LONG_EMAILS):
        make_user(email=email, name=f"Participant number {i} with a long name")

    page = new_page(viewport={"width": width, "height": 900})
    _log_in(page, live_server.url, admin.email)
    page.goto(live_server.url + "/account/admin/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("Accounts and roles")
    expect(page.get_by_text(LONG_EMAILS[4], exact=True)).to_be_visible()

    scroll_width, inner_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll_width <= inner_width, f"page scrolls sideways at {width}px"

    for email in LONG_EMAILS:
        select = page.get_by_label(f"Role for {email}")
        save = page.get_by_role("button", name=f"Save role for {email}")
        for control in (select, save):
            control.scroll_into_view_if_needed()
            box = control.bounding_box()
            assert box is not None and box["width"] > 0
            assert box["x"] >= 0 and box["x"] + box["width"] <= inner_width, (email, box)
            # Not clipped by a scrolling container: the point at its centre is the control.
            hit = control.evaluate(
                "(el, [x, y]) => { const h = document.elementFromPoint(x, y);"
                " return h === el || el.contains(h); }",
                [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
            )
            assert hit, (email, box)

    # Narrow screens stack rows as labelled cards; wide ones keep the table.
    label_shown = page.locator(".admin-users .cell-label").first.is_visible()
    assert label_shown is (width < 640)

    # The role can still be changed from the layout.
    page.get_by_label(f"Role for {LONG_EMAILS[0]}").select_option("facilitator")
    page.get_by_role("button", name=f"Save role for {LONG_EMAILS[0]}").click()
    expect(page.get_by_text(f"{LONG_EMAILS[0]} is now facilitator.")).to_be_visible()
