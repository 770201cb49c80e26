"""Hearth: a moderated reflection forum for facilitated courses."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from flask import Flask

# Packages that extend the core. The core only knows them by name: they import the
# core and listen to its signals, never the other way round.
DEFAULT_EXTENSION_PACKAGES = ("moderation", "notifications")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build and wire a Hearth app. Reads config; touches no database and no files."""
    from forum import paths

    # The same in a checkout and in an installed wheel: see forum/paths.py.
    app = Flask(
        __name__,
        instance_path=str(paths.instance_dir()),
        template_folder=str(paths.templates_dir()),
        static_folder=str(paths.static_dir()),
    )

    from forum.config import apply_proxy_fix, load_config

    load_config(app, config)

    from forum.urls import RowIdConverter

    app.url_map.converters["id"] = RowIdConverter

    from forum.access_policy import init_access_policy
    from forum.database import configure_postgresql, configure_sqlite
    from forum.errors import init_error_handlers
    from forum.extensions import csrf, db, limiter, login_manager, mail, migrate
    from forum.security import init_security_headers

    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(paths.migrations_dir()), render_as_batch=True, compare_type=True
    )
    csrf.init_app(app)
    mail.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    elif app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        with app.app_context():
            configure_postgresql(db.engine)

    from forum.transactions import init_transactions

    init_security_headers(app)
    init_access_policy(app)
    init_error_handlers(app)
    init_transactions(app)

    # audit: its tables.
    from forum import accounts, audit, courses, journals, support, threads  # noqa: F401
    from forum.templating import init_templating

    init_templating(app)

    from forum.cache import init_cache

    init_cache(app)
    for package in (accounts, courses, threads, journals, support):
        package.init_app(app)

    from forum.demo import demo_cli

    app.cli.add_command(demo_cli)
    app.cli.add_command(import_module("forum.content_cli").content_cli)

    for name in app.config.get("EXTENSION_PACKAGES", DEFAULT_EXTENSION_PACKAGES):
        import_module(name).init_app(app)

    # Outermost, around the front cache (forum/front_cache.py): every layer sees the
    # client's own address and scheme.
    apply_proxy_fix(app)
    return app
