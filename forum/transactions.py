"""One request, one transaction: the only place a request or a CLI command commits.

Services flush and never commit. A state-changing request (any method but GET, HEAD and
OPTIONS) that answers below 400 commits once, after the view returns; every other
outcome (an error page, a form shown again with a message, an exception) rolls back when
Flask-SQLAlchemy removes the session at the end of the request. Safe requests never
commit, so a GET can't write.

CLI commands get the same rule from ``transactional``: commit when the command returns,
roll back when it raises, and a ServiceError becomes one clear line instead of a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import Flask, request
from flask.cli import AppGroup

from forum.database import SAFE_METHODS
from forum.extensions import db
from forum.service_errors import ServiceError

F = TypeVar("F", bound=Callable[..., Any])


def init_transactions(app: Flask) -> None:
    @app.after_request
    def _commit_successful_writes(response):
        if request.method not in SAFE_METHODS and response.status_code < 400:
            db.session.commit()
        return response


def transactional(command: F) -> F:
    """Wrap a CLI command: commit once if it returns, roll back if it raises."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = command(*args, **kwargs)
        except ServiceError as error:
            db.session.rollback()
            raise click.ClickException(str(error)) from error
        except BaseException:
            db.session.rollback()
            raise
        db.session.commit()
        return result

    return wrapper  # type: ignore[return-value]


class TransactionalGroup(AppGroup):
    """A Flask CLI group whose commands each run in one transaction (see ``transactional``)."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], click.Command]:  # type: ignore[override]
        register = super().command(*args, **kwargs)

        def decorator(func: F) -> click.Command:
            return register(transactional(func))

        return decorator
