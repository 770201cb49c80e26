"""Response headers that every page gets."""

from flask import Flask, abort, request

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def init_security_headers(app: Flask) -> None:
    @app.before_request
    def _refuse_oversized_bodies():
        # Werkzeug refuses a too-large body only when a view reads it; a route that
        # redirects or 404s first would otherwise accept the upload. Refuse it up front.
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if limit and (request.content_length or 0) > limit:
            abort(413)

    @app.after_request
    def _set_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config["ENV"] == "production":
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if app.config.get("NOINDEX"):
            # The header covers what the <meta> tag can't: redirects, files, error pages.
            headers.setdefault("X-Robots-Tag", "noindex, nofollow")
        return response
