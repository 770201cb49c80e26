"""A subscriber, in headless Chromium, leaves a thread from the link in a real email: the
worker writes the new-post email with the file transport, the browser (no cookies, like a
mail client opening a link) opens its footer link, confirms, and the subscription is muted.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from forum.accounts.models import User
from forum.courses.models import Prompt
from forum.courses.services import import_course
from forum.extensions import db
from forum.threads.services import create_post
from notifications.models import Subscription
from notifications.worker import run_once
from tests.course_data import SMALL_COURSE
from tests.e2e.helpers import emails_to, footer_links, list_unsubscribe_url, log_in

pytestmark = pytest.mark.e2e

THREAD = "/c/allyship/noticing/first-memory"


@pytest.fixture
def app_config(tmp_path):
    return {
        "NOTIFICATIONS_TRANSPORT": "file",
        "NOTIFICATIONS_MAIL_DIR": str(tmp_path / "mail"),
        "NOTIFICATIONS_EDIT_WINDOW": 0,
        "NOTIFICATIONS_DIGEST_HOUR": None,
    }


def _mode(app, user_id: int, prompt_id: int) -> str | None:
    with app.app_context():
        return db.session.execute(
            select(Subscription.mode).filter_by(user_id=user_id, prompt_id=prompt_id)
        ).scalar_one_or_none()


def test_a_subscriber_unsubscribes_from_the_link_in_a_new_post_email(
    live_server, new_page, make_user, app, tmp_path
):
    base = live_server.url
    subscriber = make_user(email="sol@example.com", name="Sol Subscriber")
    author = make_user(email="ada@example.com", name="Ada Author")
    with app.app_context():
        import_course(SMALL_COURSE)
        db.session.commit()
        prompt_id = db.session.execute(
            select(Prompt.id).where(Prompt.slug == "first-memory")
        ).scalar_one()

    # The subscriber watches the thread from its page.
    page = new_page()
    log_in(page, base, subscriber.email)
    page.goto(base + THREAD)
    page.get_by_label(re.compile("email", re.I)).first.select_option("watching")
    page.get_by_role("button", name="Update").first.click()
    expect(page.get_by_label(re.compile("email", re.I)).first).to_have_value("watching")
    assert _mode(app, subscriber.id, prompt_id) == "watching"

    # Someone posts; one worker cycle writes the email to the folder.
    with app.app_context():
        create_post(
            db.session.get(User, author.id),
            db.session.get(Prompt, prompt_id),
            "Mine was a playground.",
        )
        db.session.commit()
        run_once()
    [message] = emails_to(tmp_path / "mail", subscriber.email)
    assert "Mine was a playground." in message.get_body(preferencelist=("plain",)).get_content()
    one_click = list_unsubscribe_url(message)
    links = footer_links(message)
    footer = next(url for text, url in links.items() if text.startswith("Unsubscribe from"))
    assert footer == one_click and footer.startswith(base + "/u/"), links

    # The link opens in a browser with no session (a mail client), asks, then acts.
    reader = new_page()
    reader.goto(footer)
    expect(reader.get_by_role("heading", level=1)).to_have_text("Unsubscribe")
    expect(reader.get_by_role("main")).to_contain_text("A first memory")
    assert _mode(app, subscriber.id, prompt_id) == "watching"  # opening it changes nothing
    reader.get_by_role("button", name="Unsubscribe").click()
    expect(reader.get_by_role("heading", level=1)).to_have_text("You're unsubscribed")
    expect(reader.get_by_role("button", name="Undo")).to_be_visible()
    assert _mode(app, subscriber.id, prompt_id) == "muted"

    # The next post reaches nobody: the author's own posts never mail the author.
    with app.app_context():
        create_post(
            db.session.get(User, author.id),
            db.session.get(Prompt, prompt_id),
            "And a second thought.",
        )
        db.session.commit()
        run_once()
    assert len(emails_to(tmp_path / "mail", subscriber.email)) == 1
