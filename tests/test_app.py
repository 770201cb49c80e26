"""The app factory, configuration, security headers, error pages and CSRF."""

from __future__ import annotations

import re

import pytest
from werkzeug.routing import BaseConverter, IntegerConverter

from forum import create_app
from forum.accounts.models import Role
from forum.extensions import db
from tests.conftest import make_test_app

# The only state-changing routes that may skip CSRF: RFC 8058 one-click unsubscribe is
# POSTed by mail clients that have no session and no form.
CSRF_EXEMPT_ENDPOINTS = {"notifications.unsubscribe", "notifications.unsubscribe_undo"}


def test_create_app_touches_no_files(tmp_path):
    db_file = tmp_path / "nested" / "hearth.sqlite3"
    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "k" * 32,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_file}",
        }
    )
    assert app.name == "forum"
    assert not db_file.parent.exists()


def test_config_layers_defaults_environment_then_mapping(monkeypatch):
    monkeypatch.setenv("HEARTH_SITE_NAME", "From the environment")
    monkeypatch.setenv("HEARTH_POSTS_PER_PAGE", "7")
    app = create_app({"ENV": "testing", "SECRET_KEY": "k" * 32})
    assert app.config["SITE_NAME"] == "From the environment"
    assert app.config["POSTS_PER_PAGE"] == 7  # JSON-parsed, not a string
    app = create_app({"ENV": "testing", "SECRET_KEY": "k" * 32, "SITE_NAME": "Given"})
    assert app.config["SITE_NAME"] == "Given"


def test_environment_is_read_when_the_app_is_created_not_at_import(monkeypatch):
    monkeypatch.setenv("HEARTH_SITE_NAME", "First")
    first = create_app({"ENV": "testing", "SECRET_KEY": "k" * 32})
    monkeypatch.setenv("HEARTH_SITE_NAME", "Second")
    second = create_app({"ENV": "testing", "SECRET_KEY": "k" * 32})
    assert (first.config["SITE_NAME"], second.config["SITE_NAME"]) == ("First", "Second")


def test_database_url_is_normalised_for_psycopg(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example/hearth")
    app = create_app({"ENV": "testing", "SECRET_KEY": "k" * 32})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/hearth"
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    monkeypatch.delenv("HEARTH_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="HEARTH_SECRET_KEY"):
        create_app({"ENV": "production"})


def test_production_cookies_are_secure(database_url, _schema):
    app = make_test_app(database_url, ENV="production")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    response = app.test_client().get("/")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


# Written out here, not imported: a test comparing the header with the constant the app
# sends could never fail, whatever the constant said.
EXPECTED_CSP_DIRECTIVES = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
}


def test_security_headers_on_every_page(client):
    for path in ("/", "/no-such-page"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert {d.strip() for d in csp.split(";")} == EXPECTED_CSP_DIRECTIVES
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"


def test_pages_carry_no_inline_script_or_style(client):
    html = client.get("/").get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)


def test_not_found_page_is_friendly(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "couldn" in response.get_data(as_text=True)
    assert 'href="#main"' in response.get_data(as_text=True)  # the site's own layout


def test_wrong_method_is_a_405_page(client):
    response = client.delete("/")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_oversized_request_gets_a_friendly_413(app, client):
    too_big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    with app.test_request_context():
        from flask import url_for

        url = url_for("accounts.login")
    response = client.post(url, data={"email": "a@example.com", "password": too_big})
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_server_error_page_hides_the_traceback(database_url, _schema):
    app = make_test_app(database_url, TESTING=False, PROPAGATE_EXCEPTIONS=False)

    @app.get("/__explode")
    def explode():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/__explode")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "secret internals" not in body
    assert "went wrong on our side" in body


def _sample_url(app, rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        assert isinstance(converter, BaseConverter)
        values[name] = 1 if isinstance(converter, IntegerConverter) else "x"
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def test_every_state_changing_route_requires_a_csrf_token(database_url, _schema, make_user):
    app = make_test_app(database_url, WTF_CSRF_ENABLED=True)
    admin = make_user(Role.ADMIN)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = admin.get_id()
        session["_fresh"] = True
    checked = []
    for rule in app.url_map.iter_rules():
        methods = (rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}
        if not methods or rule.endpoint in CSRF_EXEMPT_ENDPOINTS:
            continue
        url = _sample_url(app, rule)
        for method in methods:
            response = client.open(url, method=method, data={"body": "kept text"})
            assert response.status_code == 400, (rule.endpoint, response.status_code)
            assert "expired" in response.get_data(as_text=True), rule.endpoint
            checked.append(rule.endpoint)
    assert checked, "no state-changing routes were found to check"


def test_csrf_failure_gives_back_the_text(database_url, _schema, make_user):
    app = make_test_app(database_url, WTF_CSRF_ENABLED=True)
    user = make_user()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
    with app.test_request_context():
        from flask import url_for

        url = url_for("accounts.logout")
    response = client.post(url, data={"body": "my long reflection"})
    assert response.status_code == 400
    assert "my long reflection" in response.get_data(as_text=True)


def test_database_connections_are_tuned_for_their_backend(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
        return
    with app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_server_error_page_survives_a_database_outage(tmp_path, login, make_user):
    missing = tmp_path / "no-such-dir" / "hearth.sqlite3"
    app = make_test_app(f"sqlite:///{missing}", TESTING=False, PROPAGATE_EXCEPTIONS=False)
    response = app.test_client().get("/")
    assert response.status_code == 500
    assert "went wrong on our side" in response.get_data(as_text=True)


@pytest.mark.parametrize("post_id", ["0", "2147483648", "99999999999999999999999", "-1", "1e3"])
def test_out_of_range_ids_are_404_not_database_errors(client, post_id):
    assert client.get(f"/posts/{post_id}").status_code == 404


def test_passwords_are_hashed_with_argon2id(app_ctx, make_user):
    from forum.accounts.passwords import hash_password, verify_password

    stored = hash_password("a long enough password")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "a long enough password")
    assert not verify_password(stored, "a long enough passworD")
    assert not verify_password(None, "not-a-real-password")
