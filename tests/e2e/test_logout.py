"""Logging out in a real browser ends the session, "Keep me logged in" included."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.e2e

REMEMBER_COOKIE = "remember_token"


def test_logout_with_keep_me_logged_in_leaves_nobody_logged_in(live_server, new_page, make_user):
    person = make_user(name="Rowan Remembered")
    page = new_page()
    page.goto(live_server.url + "/account/login")
    page.get_by_label("Email address").fill(person.email)
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_label("Keep me logged in on this device").check()
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    header = page.locator(".site-header")
    expect(header).to_contain_text("Rowan Remembered")
    assert REMEMBER_COOKIE in {c["name"] for c in page.context.cookies()}

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out")).to_be_visible()
    # The page after logging out, and the next one loaded, are anonymous.
    for _ in range(2):
        expect(header.get_by_role("link", name="Log in")).to_be_visible()
        expect(header).not_to_contain_text("Rowan Remembered")
        expect(header.get_by_role("button", name="Log out")).to_have_count(0)
        page.goto(live_server.url + "/")
    assert REMEMBER_COOKIE not in {c["name"] for c in page.context.cookies()}
    # And the settings page, which needs a login, sends this browser to log in.
    page.goto(live_server.url + "/account/settings")
    expect(page).to_have_url(re.compile(r"/account/login"))
