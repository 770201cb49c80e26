"""The account emails: calm HTML that mail clients render (light and dark, images off),
and a plain-text part that says the same, links included."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest
from flask import render_template
from markupsafe import Markup

URL = "https://hearth.test/account/x/token-123"
LOGIN_URL = "https://hearth.test/account/login"
RESET_URL = "https://hearth.test/account/forgot-password"

EMAILS = {
    "account_confirm_signup": ({"user": SimpleNamespace(display_name="Jo"), "url": URL}, URL),
    "account_existing_signup": ({"login_url": LOGIN_URL, "reset_url": RESET_URL}, LOGIN_URL),
    "account_password_reset": ({"url": URL}, URL),
    "account_password_changed": ({}, None),
    "account_email_change_requested": ({"display_name": "Jo", "url": URL}, URL),
    "account_email_changed": ({"display_name": "Jo"}, None),
    "new_post": (
        {
            "author_name": "Dana",
            "prompt_title": "What surprised you?",
            "module_title": "Module 1",
            "excerpt": "One thought.\n\nAnother.",
            "post_url": URL,
        },
        URL,
    ),
}

URL_RE = re.compile(r"https://\S+")


def _render(name: str, context: dict) -> tuple[str, str]:
    text = render_template(f"email/{name}.txt", **context)
    inner = render_template(f"email/{name}.html", **context)
    page = render_template("email/_layout.html", content=Markup(inner), footer_html="")  # noqa: S704
    return text, page


def _visible_text(page: str) -> str:
    body = page.split("<body", 1)[1]
    body = re.sub(r"<!--.*?-->", " ", body, flags=re.S)
    words = html.unescape(re.sub(r"<[^>]+>", " ", body))
    return " ".join(words.split())


def _same_quotes(value: str) -> str:
    return value.replace("“", '"').replace("”", '"')


@pytest.mark.parametrize("name", sorted(EMAILS))
def test_the_plain_text_says_what_the_html_says(app, name):
    context, _ = EMAILS[name]
    with app.test_request_context():
        text, page = _render(name, context)
    # The same links, both ways.
    hrefs = set(re.findall(r'href="([^"]+)"', page))
    assert hrefs == set(URL_RE.findall(text))
    # Every sentence of the text part is in the HTML (links stand in for the buttons).
    shown = _same_quotes(_visible_text(page))
    for paragraph in text.split("\n\n"):
        words = " ".join(URL_RE.sub("", paragraph).split()).rstrip(":").strip()
        if words:
            assert _same_quotes(words) in shown, words


@pytest.mark.parametrize("name", sorted(EMAILS))
def test_the_html_is_a_calm_centred_page_for_mail_clients(app, name):
    context, main_action = EMAILS[name]
    with app.test_request_context():
        _, page = _render(name, context)
    assert '<meta name="color-scheme" content="light dark">' in page
    assert "prefers-color-scheme: dark" in page
    assert "max-width:600px" in page
    assert "font-size:16px" in page and "-apple-system" in page
    assert "<img" not in page and "background-image" not in page
    if main_action:
        # A button: a link on a solid coloured cell, so it reads with images off and when
        # a client inverts colours.
        button = re.search(
            r'<td class="email-button" bgcolor="(#[0-9a-f]{6})"[^>]*>\s*'
            r'<a class="email-button-link" href="([^"]+)"[^>]*color:#ffffff',
            page,
        )
        assert button, page
        assert button.group(2) == main_action
