"""The site's frame on every page: skip link, header navigation, flash region, footer."""

from __future__ import annotations

import re

import pytest
from flask import render_template
from markupsafe import escape

from forum.accounts.models import Role
from forum.errors import MESSAGES


def test_anonymous_header_offers_log_in_and_sign_up(client):
    page = client.get("/").get_data(as_text=True)
    assert '<a class="skip-link" href="#main">Skip to content</a>' in page
    assert '<main id="main"' in page
    assert '<nav class="site-nav" aria-label="Site">' in page
    assert 'href="/account/login?next=/"' in page
    assert 'href="/account/signup"' in page
    assert "Log out" not in page
    assert '<div class="flashes" role="status">' in page
    assert "<footer" in page
    # The CSP forbids inline script and style; the page uses neither.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert " style=" not in page and "<style" not in page


def test_logged_in_header_shows_name_settings_and_a_log_out_form(app, client, make_user, login):
    login(client, make_user(name="Robin Participant"))
    page = client.get("/").get_data(as_text=True)
    assert "Robin Participant" in page
    assert 'href="/account/settings"' in page
    assert re.search(r'<form class="inline-form" method="post" action="/account/logout">', page)
    assert 'name="csrf_token"' in page
    assert 'href="/account/admin/users"' not in page
    assert 'href="/account/login' not in page


def test_admins_get_an_admin_link(client, make_user, login):
    login(client, make_user(Role.ADMIN))
    assert 'href="/account/admin/users"' in client.get("/").get_data(as_text=True)


def test_error_pages_use_the_site_look(client):
    response = client.get("/no/such/page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert '<p class="eyebrow">Error 404</p>' in page
    assert 'class="skip-link"' in page
    assert 'href="/"' in page


@pytest.mark.parametrize("code", [400, 403, 404, 413, 429, 500])
def test_every_error_page_renders_in_the_site_look(app, code):
    title, message = MESSAGES[code]
    with app.test_request_context("/"):
        page = render_template(
            "errors/error.html", code=code, title=title, message=message, kept_text="Keep <me>"
        )
    assert f"<h1>{escape(title)}</h1>" in page
    assert escape(message) in page
    assert 'class="skip-link"' in page and '<main id="main"' in page
    assert '<textarea id="kept-text"' in page and "Keep &lt;me&gt;</textarea>" in page
