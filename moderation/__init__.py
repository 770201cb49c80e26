"""Moderation: see DESIGN.md. Imports the core; the core knows it only by name."""

from flask import Flask


def init_app(app: Flask) -> None:
    from moderation import views

    app.register_blueprint(views.bp)
