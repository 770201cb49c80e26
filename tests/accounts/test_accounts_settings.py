"""Settings: display name and email address."""

from __future__ import annotations

import pytest
from markupsafe import escape

from forum import signals
from forum.accounts import tokens
from forum.accounts.models import User
from forum.extensions import db
from tests.accounts.conftest import PASSWORD
from tests.accounts.helpers import capture, fetch_user, is_logged_in, path_of, text
from tests.hostile import hostile_strings


def _change_email(client, new_email, password=PASSWORD):
    return client.post(
        "/account/settings/email",
        data={"email-new_email": new_email, "email-current_password": password},
    )


def test_settings_page_shows_three_labelled_forms(client, participant, login):
    login(client, participant)
    html = client.get("/account/settings").get_data(as_text=True)
    for field_id in ("name-display_name", "email-new_email", "password-new_password"):
        assert f'<label for="{field_id}">' in html
    assert 'value="Pat"' in html


def test_settings_needs_login(client):
    response = client.get("/account/settings")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/login?next=/account/settings"


def test_display_name_is_cleaned_and_saved(app, client, participant, login):
    login(client, participant)
    response = client.post(
        "/account/settings/name",
        data={"name-display_name": "  Pat\r\n\u202eQ\x00  <script>alert(1)</script> "},
    )
    assert response.status_code == 302
    stored = fetch_user(app, participant.id).display_name
    assert stored == "Pat Q <script>alert(1)</script>"
    page = client.get("/account/settings").get_data(as_text=True)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)" in page


@pytest.mark.parametrize(
    ("value", "message"),
    [("n" * 61, "at most 60 characters"), ("\x00\u202e \r\n", "Please enter a display name")],
)
def test_bad_display_name_gets_a_message_and_keeps_the_old_one(
    app, client, participant, login, value, message
):
    login(client, participant)
    response = client.post("/account/settings/name", data={"name-display_name": value})
    assert response.status_code == 422
    assert message in text(response)
    assert 'aria-describedby="name-display_name-help name-display_name-error"' in text(response)
    assert fetch_user(app, participant.id).display_name == "Pat"


def test_every_hostile_string_as_a_display_name_is_stored_safely_or_refused(
    app, client, participant, login
):
    login(client, participant)
    for value in hostile_strings():
        response = client.post("/account/settings/name", data={"name-display_name": value})
        assert response.status_code in {302, 422}, repr(value)
        if response.status_code == 302:
            stored = fetch_user(app, participant.id).display_name
            assert 1 <= len(stored) <= 60
            assert "\x00" not in stored and "\n" not in stored and "\u202e" not in stored
            page = client.get("/account/settings")
            assert page.status_code == 200
            if "<" in stored:  # shown, but escaped: as text, never as markup
                assert str(escape(stored)) in page.get_data(as_text=True)


def test_email_change_is_confirmed_at_the_new_address(app, client, participant, login):
    login(client, participant)
    with capture(signals.email_change_requested) as requested:
        response = _change_email(client, "Pat.New@Example.com")
    assert response.status_code == 302
    assert fetch_user(app, participant.id).email == "pat@example.com"
    assert len(requested) == 1
    assert requested[0]["new_email"] == "pat.new@example.com"
    assert requested[0]["user"].id == participant.id
    assert requested[0]["url"].startswith("https://hearth.test/account/email/confirm/")
    link = path_of(requested[0]["url"])

    other_browser = app.test_client()
    assert other_browser.get(link).status_code == 200
    assert fetch_user(app, participant.id).email == "pat@example.com"  # GET changes nothing
    with capture(signals.email_changed) as changed:
        response = other_browser.post(link)
    assert response.status_code == 302
    assert fetch_user(app, participant.id).email == "pat.new@example.com"
    assert changed[0]["old_email"] == "pat@example.com"
    assert changed[0]["user"].email == "pat.new@example.com"
    assert is_logged_in(client)  # changing the address doesn't end sessions

    again = app.test_client().post(link)
    assert again.status_code == 400


def test_email_change_needs_the_current_password(app, client, participant, login):
    login(client, participant)
    with capture(signals.email_change_requested) as requested:
        response = _change_email(client, "new@example.com", password="not it at all")
    assert response.status_code == 422
    assert "current password isn't right" in text(response)
    assert requested == []


def test_email_change_to_a_taken_address_looks_the_same_but_sends_nothing(
    app, client, participant, login, make_user
):
    make_user(email="taken@example.com")
    login(client, participant)
    with capture(signals.email_change_requested) as requested:
        taken = _change_email(client, "taken@example.com")
        free = _change_email(client, "free@example.com")
    assert taken.status_code == free.status_code == 302
    assert taken.headers["Location"] == free.headers["Location"]
    assert [r["new_email"] for r in requested] == ["free@example.com"]


def test_email_change_to_the_same_address_is_explained(client, participant, login):
    login(client, participant)
    response = _change_email(client, "PAT@example.com")
    assert response.status_code == 422
    assert "already your email address" in text(response)


def test_email_taken_before_confirmation_is_refused(app, client, participant, login, make_user):
    login(client, participant)
    with capture(signals.email_change_requested) as requested:
        _change_email(client, "wanted@example.com")
    make_user(email="wanted@example.com")
    response = client.post(path_of(requested[0]["url"]))
    assert response.status_code == 400
    assert "no longer available" in text(response)
    assert fetch_user(app, participant.id).email == "pat@example.com"


def test_email_change_link_dies_if_the_address_changed_meanwhile(app, client, participant, login):
    login(client, participant)
    with capture(signals.email_change_requested) as requested:
        _change_email(client, "first@example.com")
        _change_email(client, "second@example.com")
    assert client.post(path_of(requested[1]["url"])).status_code == 302
    assert client.post(path_of(requested[0]["url"])).status_code == 400
    assert fetch_user(app, participant.id).email == "second@example.com"


@pytest.mark.parametrize(
    "value",
    ["x@example.com\r\nBcc: y@example.com", "x\x00@example.com", "a" * 300 + "@x.com", "nope"],
)
def test_hostile_new_email_is_refused(client, participant, login, value):
    login(client, participant)
    with capture(signals.email_change_requested) as requested:
        response = _change_email(client, value)
    assert response.status_code == 422
    assert requested == []


def test_tampered_or_foreign_email_change_token_is_refused(app, client, participant):
    with app.test_request_context():
        user = db.session.get(User, participant.id)
        reset_token = tokens.make_password_reset_token(user)
        good = tokens.make_email_change_token(user, "n@example.com")
    for bad in (reset_token, good[:-4] + "AAAA", "junk"):
        assert client.get(f"/account/email/confirm/{bad}").status_code == 400
        assert client.post(f"/account/email/confirm/{bad}").status_code == 400
    assert fetch_user(app, participant.id).email == "pat@example.com"
