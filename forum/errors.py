"""Error pages in the site's own look, with a sentence a person can act on."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

MESSAGES = {
    400: ("Something in that request didn't make sense", "Please go back and try again."),
    403: ("You can't do that here", "Your account doesn't have permission for this page."),
    404: ("We couldn't find that page", "It may have moved, or the link may be mistyped."),
    405: ("That isn't how this page works", "Please use the site's own links and buttons."),
    413: (
        "That was too large to accept",
        "What you sent is over our size limit. Please shorten it and try again.",
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


def init_error_handlers(app: Flask) -> None:
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
