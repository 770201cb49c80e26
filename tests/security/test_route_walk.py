"""Walks over every route: security headers (with CSP) on every GET page for every role,
a CSRF token required by every state-changing route but one-click unsubscribe, and 413
for every POST route sent an oversized body."""

from __future__ import annotations

import re

import pytest

from forum.accounts.models import Role
from tests.conftest import make_test_app
from tests.journals import conftest as journal_fixtures
from tests.journals.conftest import write_entry, write_post
from tests.security.routes import STATE_CHANGING, rule_url, rules

cast = journal_fixtures.cast
client_for = journal_fixtures.client_for
# RFC 8058 one-click unsubscribe is POSTed by mail clients with no session and no form.
CSRF_EXEMPT = {"notifications.unsubscribe", "notifications.unsubscribe_undo"}
ROLES = ("anonymous", "other", "author", "moderator", "facilitator", "admin")


@pytest.fixture
def world(app, cast, client_for):
    """A post, a journal entry with a reply, a concern and a flag: ids 1 exist."""
    ada = client_for(cast.author)
    entry_id = write_entry(ada, "An entry.")
    post_id = write_post(ada, "A public reflection.")
    client_for(cast.facilitator).post(f"/journal/entries/{entry_id}/open")
    client_for(cast.other).post(f"/support/posts/{post_id}/concern", data={"note": "Worried."})
    client_for(cast.other).post(
        f"/posts/{post_id}/flag", data={"reason": "spam", "note": "An advert."}
    )
    return {"entry_id": entry_id, "post_id": post_id}


def check_headers(response) -> list[str]:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    problems = []
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    if directives.get("script-src") != "script-src 'self'":
        problems.append(f"CSP script-src: {csp!r}")
    if "unsafe-inline" in csp or "unsafe-eval" in csp:
        problems.append(f"CSP allows inline code: {csp!r}")
    if directives.get("object-src") != "object-src 'none'":
        problems.append("CSP object-src")
    if directives.get("frame-ancestors") != "frame-ancestors 'none'" and headers.get(
        "X-Frame-Options"
    ) not in ("DENY", "SAMEORIGIN"):
        problems.append("framing allowed")
    if headers.get("X-Frame-Options") != "DENY":
        problems.append("X-Frame-Options")
    if headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("X-Content-Type-Options")
    if headers.get("Referrer-Policy") not in ("same-origin", "no-referrer", "strict-origin"):
        problems.append(f"Referrer-Policy {headers.get('Referrer-Policy')!r}")
    return problems


def test_security_headers_on_every_page_for_every_role(app, cast, client_for, world):
    users = {
        "anonymous": None, "other": cast.other, "author": cast.author,
        "moderator": cast.moderator, "facilitator": cast.facilitator, "admin": cast.admin,
    }  # fmt: skip
    urls = [rule_url(app, rule) for rule, _ in rules(app, {"GET"})] + ["/no-such-page"]
    assert len(urls) > 40
    problems, statuses = {}, set()
    for role in ROLES:
        client = client_for(users[role])
        for url in urls:
            response = client.get(url)
            statuses.add(response.status_code)
            found = check_headers(response)
            if found:
                problems[(role, url, response.status_code)] = found
    assert not problems
    assert {200, 404} <= statuses
    assert 500 not in statuses


def test_the_header_check_can_fail(app):
    from werkzeug.wrappers import Response

    assert check_headers(Response("x"))
    weak = Response("x", headers={"Content-Security-Policy": "script-src 'self' 'unsafe-inline'"})
    assert check_headers(weak)


def test_every_state_changing_route_requires_a_csrf_token(database_url, _schema, make_user):
    app = make_test_app(database_url, WTF_CSRF_ENABLED=True)
    admin = make_user(Role.ADMIN)  # role checks must not answer first
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = admin.get_id()
        session["_fresh"] = True
    checked, exempt_seen = set(), set()
    for rule, methods in rules(app, STATE_CHANGING):
        if rule.endpoint in CSRF_EXEMPT:
            exempt_seen.add(rule.endpoint)
            continue
        url = rule_url(app, rule)
        for method in methods:
            response = client.open(url, method=method, data={"body": "kept text"})
            assert response.status_code == 400, (rule.endpoint, method, response.status_code)
            assert "expired" in response.get_data(as_text=True), rule.endpoint
            checked.add(rule.endpoint)
    assert exempt_seen == CSRF_EXEMPT  # the allowlist names real routes, and no more
    assert len(checked) >= 40, sorted(checked)
    # With a token from a form page the same session gets through the CSRF check.
    page = client.get("/account/settings").get_data(as_text=True)
    token = re.search(r'name="name-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    ok = client.post(
        "/account/settings/name", data={"name-csrf_token": token, "name-display_name": "Ann"}
    )
    assert ok.status_code in (302, 303)


def test_one_click_unsubscribe_needs_no_token(database_url, _schema):
    app = make_test_app(database_url, WTF_CSRF_ENABLED=True)
    response = app.test_client().post("/u/" + "x" * 22, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code != 400 or "expired" not in response.get_data(as_text=True)


def test_oversized_bodies_get_413_on_every_post_route(app, cast, client_for, world):
    admin = client_for(cast.admin)
    anonymous = client_for(None)
    body = "x" * (300 * 1024)
    assert len(body) > app.config["MAX_CONTENT_LENGTH"]
    statuses = {}
    # Logging out ends the admin's session everywhere: last, so it can't hide the rest.
    post_rules = sorted(
        rules(app, {"POST"}), key=lambda pair: pair[0].endpoint == "accounts.logout"
    )
    for rule, _methods in post_rules:
        url = rule_url(app, rule)
        for who, client in (("admin", admin), ("anonymous", anonymous)):
            response = client.post(url, data={"body": body, "note": "n"})
            statuses[(rule.endpoint, who)] = response.status_code
            raw = client.post(url, data=body.encode(), content_type="text/plain")
            statuses[(rule.endpoint, who, "raw")] = raw.status_code
    wrong = {k: v for k, v in statuses.items() if v != 413}
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in sorted(wrong.items()))
    assert len(statuses) >= 100
