"""Error pages in the site's own look, with a sentence a person can act on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, g, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from forum.extensions import db
from forum.service_errors import ServiceError

MESSAGES = {
    400: ("Something in that request didn't make sense", "Please go back and try again."),
    403: ("You can't do that here", "Your account doesn't have permission for this page."),
    404: ("We couldn't find that page", "It may have moved, or the link may be mistyped."),
    405: ("That isn't how this page works", "Please use the site's own links and buttons."),
    409: (
        "Someone got there first",
        "This was changed by someone else a moment ago. Please reload the page and look again.",
    ),
    413: (
        "That was too large to accept",
        "What you sent is over our size limit. Please shorten it and try again.",
    ),
    422: (
        "That couldn't be saved",
        "Something in what you sent needs changing. Please go back and try again.",
    ),
    429: (
        "Too many attempts",
        "Please wait a little before trying again. This protects everyone's accounts.",
    ),
    500: (
        "Something went wrong on our side",
        "Nothing you wrote was saved by this request. Please try again in a moment.",
    ),
}


FALLBACK_500 = (
    "<!doctype html><html lang='en'><meta charset='utf-8'><title>Something went wrong</title>"
    "<h1>Something went wrong on our side</h1><p>Nothing you wrote was saved by this request. "
    "Please try again in a moment.</p></html>"
)


def _render(code: int, detail: str | None = None, kept_text: str | None = None):
    title, message = MESSAGES.get(code, MESSAGES[400])
    return (
        render_template(
            "errors/error.html",
            code=code,
            title=title,
            message=detail or message,
            kept_text=kept_text,
        ),
        code,
    )


def _kept_text() -> str | None:
    """The writing the person submitted, so a failed submit never loses it."""
    try:
        text = request.form.get("body")
    except Exception:  # a malformed or oversized body can't be read back
        return None
    return text or None


def reshow_form_on_error(form: Any, render: Callable[[], Any], status: int = 422) -> None:
    """If a service raises a 422 ServiceError in this request, show ``form`` again.

    The message lands on the form field the error names (or above the form), ``render``
    builds the page, and the request rolls back: the person keeps what they typed and
    nothing half-done is stored. Call it before calling the service.
    """

    def _reshow(error: ServiceError):
        target = getattr(form, error.field, None) if error.field else None
        if target is not None and hasattr(target, "errors"):
            target.errors = [*list(target.errors), str(error)]
        else:
            form.form_errors.append(str(error))
        response = render()
        body = response[0] if isinstance(response, tuple) else response
        return body, status

    g.hearth_reshow_form = _reshow


def init_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(error: ServiceError):
        # Whatever the service flushed before it refused is not kept.
        db.session.rollback()
        reshow = g.pop("hearth_reshow_form", None)
        if error.status == 422 and reshow is not None:
            return reshow(error)
        return _render(error.status, str(error), kept_text=_kept_text())

    @app.errorhandler(CSRFError)
    def _csrf_error(error):
        return _render(
            400,
            "This form had expired, so nothing was saved. Your text is below: copy it, "
            "reload the page and send it again.",
            kept_text=_kept_text(),
        )

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        # A view that aborts with its own description means it for the reader.
        custom = error.description != type(error).description
        detail = error.description if custom else None
        if isinstance(error, RateLimitExceeded) and not error.limit.error_message:
            # Without a sentence of its own, Flask-Limiter's description is the limit
            # itself ("10 per 1 minute"): not for people. The general 429 wording is.
            detail = None
        # A refused submit (too many posts too fast) hands the writing back, like CSRF does.
        kept = _kept_text() if error.code == 429 else None
        response = _render(error.code, detail, kept_text=kept)
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            return (*response, {"Allow": ", ".join(error.valid_methods)})
        return response

    @app.errorhandler(InternalServerError)
    def _server_error(error):
        try:
            return _render(500)
        except Exception:
            # The layout needs the database (the current user); when that is what failed,
            # answer with a page that needs nothing.
            app.logger.exception("error page could not be rendered")
            return FALLBACK_500, 500, {"Content-Type": "text/html; charset=utf-8"}
