"""Pages: the thread and module buttons, preferences, pauses, the staff mail folder."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from forum.accounts.models import Role, User
from forum.database import utcnow
from forum.extensions import db
from notifications.models import NotificationPreference, Subscription
from tests.notifications.helpers import post_as, work

THREAD = "/c/allyship/noticing/first-memory"
MODULE = "/c/allyship/noticing"


def _mode(app, user_id, **where):
    with app.app_context():
        return db.session.execute(
            select(Subscription.mode).filter_by(user_id=user_id, **where)
        ).scalar_one_or_none()


def test_thread_page_shows_state_and_the_button_changes_it(app, client, login, course, people):
    bea = people["bea"]
    login(client, bea)
    page = client.get(THREAD)
    assert page.status_code == 200
    assert b"Email for this thread" in page.data
    assert b'<option value="none" selected>' in page.data
    action = f"/notifications/threads/{course.prompt_id}".encode()
    assert action in page.data

    response = client.post(action.decode(), data={"mode": "watching", "next": THREAD})
    assert response.status_code == 302 and response.headers["Location"] == THREAD
    assert _mode(app, bea.id, prompt_id=course.prompt_id) == "watching"
    assert b'<option value="watching" selected>' in client.get(THREAD).data

    client.post(action.decode(), data={"mode": "muted", "next": "https://evil.example/"})
    assert _mode(app, bea.id, prompt_id=course.prompt_id) == "muted"
    client.post(action.decode(), data={"mode": "none"})
    assert _mode(app, bea.id, prompt_id=course.prompt_id) is None


def test_bad_subscription_input_is_a_clear_400(app, client, login, course, people):
    login(client, people["bea"])
    response = client.post(f"/notifications/threads/{course.prompt_id}", data={"mode": "loud"})
    assert response.status_code == 400
    assert b"Please choose watching" in response.data
    assert client.post("/notifications/threads/999999", data={"mode": "muted"}).status_code == 404


def test_anonymous_visitors_see_no_button_and_cannot_post(app, client, course):
    page = client.get(THREAD)
    assert page.status_code == 200
    assert b"Email for this thread" not in page.data
    response = client.post(f"/notifications/threads/{course.prompt_id}", data={"mode": "muted"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_module_page_watch_button(app, client, login, course, people, smtp_sink):
    bea = people["bea"]
    login(client, bea)
    page = client.get(MODULE)
    assert b"Email for every thread in this module" in page.data
    response = client.post(f"/notifications/modules/{course.module_id}", data={"mode": "watching"})
    assert response.status_code == 302
    assert _mode(app, bea.id, module_id=course.module_id) == "watching"
    with app.app_context():
        post_as(people["author"].id, course.other_prompt_id, "Anywhere in the module.")
    work(app)
    assert len(smtp_sink.to("bea@example.com")) == 1
    # The thread page says where the state comes from.
    assert b"from your module subscription" in client.get(THREAD).data


def test_preferences_page_saves_delivery_excerpts_pause_and_resume(app, client, login, people):
    bea = people["bea"]
    login(client, bea)
    page = client.get("/notifications/preferences")
    assert page.status_code == 200
    assert b"Email settings" in page.data and b'<input checked id="delivery-0"' in page.data
    response = client.post("/notifications/preferences", data={"delivery": "digest"})
    assert response.status_code == 302
    with app.app_context():
        pref = db.session.get(NotificationPreference, bea.id)
        assert pref.delivery == "digest" and pref.include_excerpts is False

    assert client.post("/notifications/preferences", data={"delivery": "x"}).status_code == 400
    bad_pause = client.post("/notifications/pause", data={"weeks": "3"})
    assert bad_pause.status_code == 400
    assert b'aria-describedby="weeks-error"' in bad_pause.data

    assert client.post("/notifications/pause", data={"weeks": "2"}).status_code == 302
    with app.app_context():
        until = db.session.get(NotificationPreference, bea.id).paused_until
        assert utcnow() + timedelta(days=13) < until < utcnow() + timedelta(days=15)
    assert b"paused until" in client.get("/notifications/preferences").data
    assert client.post("/notifications/resume").status_code == 302
    with app.app_context():
        assert db.session.get(NotificationPreference, bea.id).paused_until is None


def test_nav_and_settings_link_to_email_settings(client, login, people):
    login(client, people["bea"])
    assert b'href="/notifications/preferences">Email settings</a>' in client.get("/").data
    settings = client.get("/account/settings")
    assert settings.status_code == 200
    assert b"/notifications/preferences" in settings.data


def test_preferences_need_login(client):
    response = client.get("/notifications/preferences")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_one_click_unsubscribe_works_with_csrf_protection_on(other_app, app, people, login):
    from notifications.services import queue_email

    strict = other_app(WTF_CSRF_ENABLED=True)
    with strict.app_context():
        row = queue_email(db.session.get(User, people["bea"].id), "Hi", "Text", dedupe_key="k")
        url = row.list_unsubscribe_url
        db.session.commit()
    client = strict.test_client()
    path = url.removeprefix("https://hearth.test")
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert client.post(path + "/undo").status_code == 200
    # Everything else still wants its token.
    login(client, people["bea"])
    assert client.post("/notifications/resume").status_code == 400
    assert client.post("/notifications/pause", data={"weeks": "1"}).status_code == 400


@pytest.fixture
def dev_app(other_app, tmp_path):
    app = other_app(ENV="development", NOTIFICATIONS_MAIL_DIR=str(tmp_path / "mail"))
    assert app.config["NOTIFICATIONS_TRANSPORT"] == "file"
    return app


def test_development_mail_lands_in_a_folder_and_a_staff_page(
    dev_app, app, make_user, login, tmp_path
):
    from notifications.services import queue_email

    staff = make_user(Role.FACILITATOR, email="fac@example.com", name="Fac")
    learner = make_user(Role.PARTICIPANT, email="lee@example.com", name="Lee")
    with dev_app.app_context():
        queue_email(db.session.get(User, learner.id), "Hello <Lee>", "Dear Lee", dedupe_key="k1")
        queue_email(db.session.get(User, learner.id), "Second", "Again", dedupe_key="k2")
        db.session.commit()
    work(dev_app)
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    assert b"List-Unsubscribe: <https://hearth.test/u/" in files[0].read_bytes()

    client = dev_app.test_client()
    assert client.get("/staff/mail").status_code == 302  # log in first
    login(client, learner)
    assert client.get("/staff/mail").status_code == 403
    login(client, staff)
    listing = client.get("/staff/mail")
    assert listing.status_code == 200
    body = listing.data.decode()
    assert body.index("Second") < body.index("Hello &lt;Lee&gt;")  # newest first
    one = client.get(f"/staff/mail/{files[0].name}")
    assert one.status_code == 200 and b"Dear Lee" in one.data
    for bad in ("..%2F..%2Fsecret_key", "x.eml", "%2Fetc%2Fpasswd"):
        assert client.get(f"/staff/mail/{bad}").status_code == 404

    # Outside development the page doesn't exist at all.
    prod_client = app.test_client()
    login(prod_client, staff)
    assert prod_client.get("/staff/mail").status_code == 404


def _csrf_token(client) -> str:
    page = client.get("/notifications/preferences").data
    return re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1).decode()


@pytest.mark.parametrize("pause_data", [{}, {"weeks": ""}, {"weeks": "3"}])
def test_pause_without_a_valid_duration_keeps_the_other_preferences(
    other_app, app, people, login, pause_data
):
    """Before: the preferences form was re-shown bound to the pause form's data, so
    "include excerpts" (absent from it) showed unticked, and the next Save stored that."""
    strict = other_app(WTF_CSRF_ENABLED=True)  # as in a browser: the form carries a token
    client = strict.test_client()
    bea = people["bea"]
    login(client, bea)
    token = _csrf_token(client)
    saved = client.post(
        "/notifications/preferences",
        data={"csrf_token": token, "delivery": "digest", "include_excerpts": "y"},
    )
    assert saved.status_code == 302
    page = client.post("/notifications/pause", data={"csrf_token": token, **pause_data})
    assert page.status_code == 400
    assert b'aria-describedby="weeks-error"' in page.data
    assert b'<input checked id="include_excerpts"' in page.data
    assert b'<input checked id="delivery-1" name="delivery"' in page.data  # digest
    assert b'<input checked id="delivery-0"' not in page.data
    with app.app_context():
        pref = db.session.get(NotificationPreference, bea.id)
        assert (pref.delivery, pref.include_excerpts, pref.paused_until) == ("digest", True, None)


def test_notification_errors_are_service_errors_and_views_leave_commits_to_the_request(
    app, client, login, course, people
):
    from forum.service_errors import ServiceError
    from notifications.services import NotificationError

    assert issubclass(NotificationError, ServiceError) and NotificationError.status == 422
    login(client, people["bea"])
    # The subscription is stored by the request's one commit, after the view.
    client.post(f"/notifications/threads/{course.prompt_id}", data={"mode": "digest"})
    assert _mode(app, people["bea"].id, prompt_id=course.prompt_id) == "digest"


def test_a_refusing_service_reshows_the_preferences_form_with_its_message(
    app, client, login, people
):
    """The form allows only what the service accepts; if they ever disagree, the person
    sees the form again with the service's words, and nothing is stored."""
    from notifications import forms

    login(client, people["bea"])
    field = forms.PreferencesForm.delivery
    original = field.kwargs["choices"]
    field.kwargs["choices"] = [*original, forms.SelectChoice("hourly", "Every hour")]
    try:
        page = client.post("/notifications/preferences", data={"delivery": "hourly"})
    finally:
        field.kwargs["choices"] = original
    assert page.status_code == 422
    assert b"Please choose how often you&#39;d like discussion email." in page.data
    with app.app_context():
        assert db.session.get(NotificationPreference, people["bea"].id) is None
