"""The admin page for roles, and the ``flask users`` commands."""

from __future__ import annotations

import pytest

from forum.accounts.models import Role, User
from forum.accounts.services import USERS_PER_PAGE
from forum.extensions import db
from tests.accounts.conftest import PASSWORD
from tests.accounts.helpers import fetch_user, text

ADMIN_PAGE = "/account/admin/users"


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN, email="admin@example.com", name="Ada Admin")


def _set_role(client, user_id, role, url=ADMIN_PAGE):
    return client.post(url, data={"user_id": str(user_id), "role": role})


def test_anonymous_is_sent_to_login(client):
    for response in (client.get(ADMIN_PAGE), _set_role(client, 1, "admin")):
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/account/login")


@pytest.mark.parametrize("role", [Role.PARTICIPANT, Role.FACILITATOR, Role.MODERATOR])
def test_other_roles_get_403(app, client, make_user, login, role):
    user = make_user(role)
    login(client, user)
    assert client.get(ADMIN_PAGE).status_code == 403
    assert _set_role(client, user.id, "admin").status_code == 403
    assert fetch_user(app, user.id).role == role


def test_admin_sees_accounts_and_can_search(client, admin, make_user, login):
    make_user(email="robin@example.com", name="Robin Facil")
    make_user(email="sam@example.com", name="Sam")
    login(client, admin)
    page = client.get(ADMIN_PAGE)
    assert page.status_code == 200
    html = text(page)
    assert "robin@example.com" in html and "sam@example.com" in html
    assert '<label class="visually-hidden" for="role-' in html

    found = text(client.get(ADMIN_PAGE, query_string={"q": "facil"}))
    assert "robin@example.com" in found and "sam@example.com" not in found
    wildcard = text(client.get(ADMIN_PAGE, query_string={"q": "%"}))
    assert "robin@example.com" not in wildcard and "0 accounts" in wildcard


def test_admin_list_is_paginated(app, client, admin, login):
    with app.app_context():
        for n in range(USERS_PER_PAGE + 5):
            db.session.add(
                User(email=f"bulk{n:03}@example.com", display_name=f"Bulk {n}", password_hash="x")
            )
        db.session.commit()
    login(client, admin)
    first = text(client.get(ADMIN_PAGE))
    second = text(client.get(ADMIN_PAGE, query_string={"page": 2}))
    assert "bulk000@example.com" in first and "bulk054@example.com" not in first
    assert "bulk054@example.com" in second and "bulk000@example.com" not in second
    assert 'rel="next"' in first
    for odd in ("999", "-3", "abc"):
        assert client.get(ADMIN_PAGE, query_string={"page": odd}).status_code == 200


def test_admin_changes_a_role(app, client, admin, make_user, login):
    user = make_user()
    login(client, admin)
    response = _set_role(client, user.id, "moderator", url=ADMIN_PAGE + "?q=user")
    assert response.status_code == 302
    assert response.headers["Location"] == ADMIN_PAGE + "?q=user&page=1"
    assert fetch_user(app, user.id).role == Role.MODERATOR


def test_last_admin_cannot_demote_themself(app, client, admin, login):
    login(client, admin)
    response = _set_role(client, admin.id, "participant")
    assert response.status_code == 409
    assert "last admin" in text(response)
    assert fetch_user(app, admin.id).role == Role.ADMIN


def test_an_admin_can_step_down_when_another_remains(app, client, admin, make_user, login):
    make_user(Role.ADMIN)
    login(client, admin)
    assert _set_role(client, admin.id, "participant").status_code == 302
    assert fetch_user(app, admin.id).role == Role.PARTICIPANT
    assert client.get(ADMIN_PAGE).status_code == 403


@pytest.mark.parametrize(
    ("user_id", "role"),
    [
        ("1", "emperor"),
        ("99999", "admin"),
        ("abc", "admin"),
        ("\u0661", "admin"),
        ("9" * 40, "admin"),
    ],
)
def test_bad_role_changes_get_400(client, admin, login, user_id, role):
    login(client, admin)
    assert _set_role(client, user_id, role).status_code == 400


# --- CLI ------------------------------------------------------------------------------


def _user_by_email(app, email):
    with app.app_context():
        return db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()


def test_cli_creates_a_confirmed_user_with_a_role(app, runner, web_login):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "Fac@Example.com",
            "--name",
            "Fay",
            "--role",
            "facilitator",
            "--password",
            PASSWORD,
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Created fac@example.com (facilitator)" in result.output
    user = _user_by_email(app, "fac@example.com")
    assert user.role == Role.FACILITATOR and user.email_confirmed_at is not None
    assert web_login(app.test_client(), "fac@example.com").status_code == 302


def test_cli_create_prompts_for_the_password(app, runner):
    result = runner.invoke(
        args=["users", "create", "p@example.com", "--name", "P"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert _user_by_email(app, "p@example.com").role == Role.PARTICIPANT


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x@example.com", "--name", "X", "--role", "king"], "Unknown role 'king'"),
        (["not-an-email", "--name", "X"], "doesn't look like an email"),
        (["x@example.com", "--name", "\x00\u202e"], "Please enter a display name"),
        (["taken@example.com", "--name", "X"], "already exists"),
    ],
)
def test_cli_create_explains_mistakes(app, runner, make_user, args, message):
    make_user(email="taken@example.com")
    result = runner.invoke(args=["users", "create", *args, "--password", PASSWORD])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_create_refuses_a_short_password(app, runner):
    args = ["users", "create", "s@example.com", "--name", "S", "--password", "x"]
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert "at least 10 characters" in result.output
    assert _user_by_email(app, "s@example.com") is None


def test_cli_set_role(app, runner, make_user):
    user = make_user(email="mod@example.com")
    result = runner.invoke(args=["users", "set-role", "MOD@example.com", "Moderator"])
    assert result.exit_code == 0, result.output
    assert "mod@example.com is now moderator" in result.output
    assert fetch_user(app, user.id).role == Role.MODERATOR


@pytest.mark.parametrize(
    ("email", "role", "message"),
    [
        ("nobody@example.com", "admin", "No account has the email address"),
        ("known@example.com", "overlord", "Unknown role 'overlord'"),
        ("admin@example.com", "participant", "last admin"),
    ],
)
def test_cli_set_role_explains_mistakes(app, runner, make_user, admin, email, role, message):
    make_user(email="known@example.com")
    result = runner.invoke(args=["users", "set-role", email, role])
    assert result.exit_code == 1
    assert message in result.output
    assert fetch_user(app, admin.id).role == Role.ADMIN


# --- role changes are audited and announced ---------------------------------------------


def _role_audit(app):
    from forum.audit import AuditEntry

    with app.app_context():
        rows = db.session.execute(
            db.select(AuditEntry).where(AuditEntry.action == "role.changed").order_by(AuditEntry.id)
        ).scalars()
        return [(r.actor_id, r.subject_type, r.subject_id, r.details) for r in rows]


def test_a_role_change_on_the_admin_page_is_audited_and_announced(
    app, client, admin, make_user, login
):
    from forum import signals
    from tests.accounts.helpers import capture

    user = make_user()
    login(client, admin)
    with capture(signals.role_changed) as sent:
        assert _set_role(client, user.id, "facilitator").status_code == 302
    assert _role_audit(app) == [
        (admin.id, "users", user.id, {"old_role": "participant", "new_role": "facilitator"})
    ]
    assert len(sent) == 1
    assert sent[0]["user"].id == user.id and sent[0]["actor"].id == admin.id
    assert (sent[0]["old_role"], sent[0]["new_role"]) == (Role.PARTICIPANT, Role.FACILITATOR)


def test_a_role_change_from_the_command_line_is_audited_without_an_actor(app, runner, make_user):
    from forum import signals
    from tests.accounts.helpers import capture

    user = make_user(email="mod@example.com")
    with capture(signals.role_changed) as sent:
        result = runner.invoke(args=["users", "set-role", "mod@example.com", "moderator"])
    assert result.exit_code == 0, result.output
    assert _role_audit(app) == [
        (None, "users", user.id, {"old_role": "participant", "new_role": "moderator"})
    ]
    assert [(s["user"].id, s["actor"], s["new_role"]) for s in sent] == [
        (user.id, None, Role.MODERATOR)
    ]


def test_a_refused_or_unchanged_role_leaves_no_audit_row(app, client, admin, make_user, login):
    user = make_user(Role.MODERATOR)
    login(client, admin)
    assert _set_role(client, admin.id, "participant").status_code == 409  # the last admin
    assert _set_role(client, user.id, "moderator").status_code == 302  # already moderator
    assert _role_audit(app) == []


def test_a_page_past_the_end_shows_the_last_page(app, client, admin, login):
    with app.app_context():
        for n in range(USERS_PER_PAGE + 5):
            db.session.add(
                User(email=f"bulk{n:03}@example.com", display_name=f"Bulk {n}", password_hash="x")
            )
        db.session.commit()
    login(client, admin)
    last = text(client.get(ADMIN_PAGE, query_string={"page": 999}))
    assert "bulk054@example.com" in last and "bulk000@example.com" not in last
    assert f"{USERS_PER_PAGE + 6} accounts" in last
    nothing = text(client.get(ADMIN_PAGE, query_string={"q": "no such person", "page": 3}))
    assert "0 accounts" in nothing


def test_the_last_admin_refusal_shows_the_list_again(client, admin, make_user, login):
    make_user(email="robin@example.com")
    login(client, admin)
    response = _set_role(client, admin.id, "participant")
    assert response.status_code == 409
    html = text(response)
    assert 'role="alert"' in html and "last admin" in html
    assert "robin@example.com" in html  # the list, not a bare error page
