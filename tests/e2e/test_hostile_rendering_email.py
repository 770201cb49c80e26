"""Every kind of notification and alert email, built with hostile course titles, thread
titles and display names, rendered in Chromium (no CSP, as a webmail might show it): no
script runs."""

from __future__ import annotations

import pytest

from tests.e2e.test_hostile_rendering import TRAP
from tests.notifications import conftest as notification_fixtures
from tests.notifications import test_deliverability as deliverability
from tests.security.test_email_headers import HOSTILE_NAME, _hostile_titles

pytestmark = pytest.mark.e2e
course = notification_fixtures.course
smtp_sink = notification_fixtures.smtp_sink


@pytest.fixture
def app_config(smtp_sink):
    return {
        "NOTIFICATIONS_EDIT_WINDOW": 0,
        "NOTIFICATIONS_DIGEST_HOUR": None,
        "NOTIFICATIONS_TRANSPORT": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_sink.port,
        "MAIL_TIMEOUT": 5,
    }


@pytest.fixture
def app(_schema, database_url, app_config):
    """No live server here (the pages come from the SMTP sink): the app is built with the
    sink's settings from the start, as Flask-Mail reads them once."""
    from tests.conftest import _empty_all_tables, make_test_app

    made = make_test_app(database_url, **app_config)
    yield made
    _empty_all_tables(made)


def test_every_kind_of_email_runs_no_script(app, course, smtp_sink, new_page, monkeypatch):
    from forum.accounts import services as accounts

    _hostile_titles(app)
    real_user = deliverability._user

    def hostile_user(address, name, password=False):
        return real_user(
            address, accounts.clean_display_name(f"{name[:20]} {HOSTILE_NAME}"), password
        )

    monkeypatch.setattr(deliverability, "_user", hostile_user)
    sent = deliverability.send_every_kind(app, course, smtp_sink)
    assert len(sent) >= 10
    page = new_page(bypass_csp=True, java_script_enabled=True)
    page.add_init_script(TRAP)
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    bodies = {kind: one.received.html for kind, one in sent.items()}
    page.route(
        "https://mail.test/**",
        lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8",
            body=bodies[route.request.url.rsplit("/", 1)[1]],
        ),
    )  # fmt: skip
    fired, shown = {}, []
    for kind in bodies:
        page.goto(f"https://mail.test/{kind}")
        page.mouse.move(5, 5)
        calls = page.evaluate("window.__hearth_xss") + page.dialogs
        scripts = page.locator("script, iframe, object, embed, [onerror], [onload]").count()
        if calls or scripts:
            fired[kind] = (calls, scripts)
        if "Zoë" in page.content() or "🔥" in page.content():
            shown.append(kind)  # the hostile name or title is on the page, as text
    assert not fired
    assert {"new_post", "reply"} <= set(shown), shown
    assert not [m for m in messages if "alert" in m or "xss" in m.lower()]

    # The trap itself works on such a page.
    bodies["trap"] = "<p>x</p><script>alert('hearth-email')</script>"
    page.goto("https://mail.test/trap")
    assert page.evaluate("window.__hearth_xss") == ["alert:hearth-email"]
