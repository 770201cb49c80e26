"""Moderation: flags, the review queue, holds and sanctions (see docs/architecture.md).

Imports the core and listens to its signals; the core knows it only by name.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    from forum.templating import register_template_hook
    from moderation import (
        models,  # noqa: F401  (tables for create_all and Alembic)
        receivers,
        views,
    )
    from moderation.cli import moderation_cli
    from moderation.services import DEFAULTS

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)

    app.register_blueprint(views.bp)
    receivers.connect(app)
    app.cli.add_command(moderation_cli)

    register_template_hook(app, "nav", "moderation/_nav.html")
    register_template_hook(app, "post_actions", "moderation/_post_actions.html")
    register_template_hook(app, "thread_actions", "moderation/_thread_actions.html")
    register_template_hook(app, "page_top", "moderation/_sanction_banner.html")
    register_template_hook(app, "settings_links", "moderation/_settings_link.html")

    @app.context_processor
    def _moderation_helpers():
        from flask_login import current_user

        from moderation import services

        def _lock(prompt):
            return services.thread_lock(prompt.id)

        def _active():
            return services.active_sanction(current_user)

        return {
            "moderation_thread_lock": _lock,
            "moderation_active_sanction": _active,
            "moderation_sanction_message": services.sanction_message,
        }


def seed_demo() -> str:
    """``flask demo seed`` calls this: flagged and held posts for the moderator's queue."""
    from moderation.demo import seed_moderation

    return seed_moderation()
