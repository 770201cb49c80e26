"""One request, one transaction: commits once on success, rolls back on any error."""

from __future__ import annotations

import click
import pytest
from flask import abort

from forum.audit import AuditEntry, record
from forum.errors import reshow_form_on_error
from forum.extensions import db
from forum.service_errors import PermissionDenied, ServiceError
from forum.transactions import TransactionalGroup


def _audit_actions(app) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(db.select(AuditEntry.action).order_by(AuditEntry.id)).scalars()
        )


@pytest.fixture
def routes(app):
    def write(action: str) -> None:
        record(None, action, ("test", 1))

    @app.route("/t/ok", methods=["GET", "POST"])
    def ok():
        write("ok")
        return "done", 303, {"Location": "/"}

    @app.post("/t/raises")
    def raises():
        write("raises")
        raise RuntimeError("boom")

    @app.post("/t/aborts")
    def aborts():
        write("aborts")
        abort(403)

    @app.post("/t/refused")
    def refused():
        write("refused")
        raise PermissionDenied("Not yours to change.")

    class Form:
        form_errors: list[str]

        def __init__(self):
            self.form_errors = []

    @app.post("/t/form")
    def form():
        the_form = Form()
        reshow_form_on_error(the_form, lambda: "shown again: " + "|".join(the_form.form_errors))
        write("form")
        raise ServiceError("Please shorten it.")

    return app


def test_a_successful_write_commits_once(routes, client):
    assert client.post("/t/ok").status_code == 303
    assert _audit_actions(routes) == ["ok"]


def test_a_get_never_commits_what_it_wrote(routes, client):
    routes.config["PROPAGATE_EXCEPTIONS"] = False
    status = client.get("/t/ok").status_code
    with routes.app_context():
        dialect = db.engine.dialect.name
    # SQLite rolls the write back; PostgreSQL runs a GET in a READ ONLY transaction, so the
    # server refuses the write itself and the request fails.
    assert status == (500 if dialect == "postgresql" else 303)
    assert _audit_actions(routes) == []


@pytest.mark.parametrize("path", ["/t/aborts", "/t/refused", "/t/form"])
def test_an_error_answer_rolls_back(routes, client, path):
    response = client.post(path)
    assert response.status_code in (403, 422)
    assert _audit_actions(routes) == []


def test_a_view_that_raises_rolls_back_what_it_wrote(routes, client):
    routes.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.post("/t/raises")
    assert response.status_code == 500
    assert _audit_actions(routes) == []


def test_service_errors_map_to_their_answers(routes, client):
    refused = client.post("/t/refused")
    assert refused.status_code == 403 and "Not yours to change." in refused.get_data(as_text=True)
    reshown = client.post("/t/form")
    assert (reshown.status_code, reshown.get_data(as_text=True)) == (
        422,
        "shown again: Please shorten it.",
    )


def test_cli_commands_commit_on_success_and_roll_back_on_error(app):
    group = TransactionalGroup("t")

    @group.command("good")
    def good():
        record(None, "cli-good", ("test", 1))

    @group.command("bad")
    def bad():
        record(None, "cli-bad", ("test", 1))
        raise ServiceError("That file has no modules.")

    runner = app.test_cli_runner()
    assert runner.invoke(group, ["good"]).exit_code == 0
    result = runner.invoke(group, ["bad"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: That file has no modules."
    assert isinstance(result.exception, SystemExit)
    assert _audit_actions(app) == ["cli-good"]
    assert click  # the group is a click group
