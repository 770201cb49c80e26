"""Hearth: a moderated reflection forum for facilitated courses."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from flask import Flask

# Packages that extend the core. The core only knows them by name: they import the
# core and listen to its signals, never the other way round.
DEFAULT_EXTENSION_PACKAGES = ("moderation", "notifications")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build and wire a Hearth app. Reads config; touches no database and no files."""
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )

    from forum.config import load_config

    load_config(app, config)

    from forum.urls import RowIdConverter

    app.url_map.converters["id"] = RowIdConverter

    from forum.database import configure_sqlite
    from forum.errors import init_error_handlers
    from forum.extensions import csrf, db, limiter, login_manager, mail, migrate
    from forum.security import init_security_headers

    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True
    )
    csrf.init_app(app)
    mail.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])

    init_security_headers(app)
    init_error_handlers(app)

    from forum import accounts, courses, threads
    from forum.templating import init_templating

    init_templating(app)
    for package in (accounts, courses, threads):
        package.init_app(app)

    from forum.demo import demo_cli

    app.cli.add_command(demo_cli)

    for name in app.config.get("EXTENSION_PACKAGES", DEFAULT_EXTENSION_PACKAGES):
        import_module(name).init_app(app)

    return app
