"""Public reflection threads: one per prompt, posts and replies."""

from flask import Flask


def init_app(app: Flask) -> None:
    from forum.threads import views

    app.register_blueprint(views.bp)
