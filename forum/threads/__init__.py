"""Public reflection threads: one per prompt, posts and replies."""

from flask import Flask, request

# The endpoints that turn a submitted body into HTML.
WRITING_ENDPOINTS = frozenset({"threads.new_post", "threads.reply", "threads.edit_post"})


def init_app(app: Flask) -> None:
    from forum.threads import services, views

    app.register_blueprint(views.bp)

    def _render_before_the_write_lock():
        # First of all before_request hooks: those after it (the limiter, moderation's
        # checks, loading the person) run statements, and on SQLite the first statement
        # of a POST takes the write lock. Markdown and the sanitiser run before it.
        if request.method == "POST" and request.endpoint in WRITING_ENDPOINTS:
            services.prerender_body(request.form.get("body"))

    app.before_request_funcs.setdefault(None, []).insert(0, _render_before_the_write_lock)
