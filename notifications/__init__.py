"""Notifications: see DESIGN.md. Imports the core; the core knows it only by name."""

from flask import Flask

DEFAULTS = {
    # Seconds a new post waits before it is mailed, so quick edits and holds are respected.
    "NOTIFICATIONS_EDIT_WINDOW": 600,
    "NOTIFICATIONS_FANOUT_BATCH": 500,
    "NOTIFICATIONS_SEND_BATCH": 100,
    "NOTIFICATIONS_MAX_PER_CYCLE": 5000,
    "NOTIFICATIONS_POLL_INTERVAL": 5.0,
    # A claim older than this belongs to a dead worker and is taken over.
    "NOTIFICATIONS_CLAIM_LEASE": 300,
    "NOTIFICATIONS_RETRY_BASE": 60,
    "NOTIFICATIONS_RETRY_MAX_DELAY": 6 * 3600,
    "NOTIFICATIONS_MAX_ATTEMPTS": 8,
    "NOTIFICATIONS_EXCERPT_CHARS": 500,
    # UTC hour after which the running worker queues the day's digests (None: cron only).
    "NOTIFICATIONS_DIGEST_HOUR": 7,
    "NOTIFICATIONS_UNSUBSCRIBE_RATE_LIMIT": "20 per minute;200 per hour",
    "NOTIFICATIONS_MAIL_DIR": None,  # default: instance/mail
    "MAIL_TIMEOUT": 30,
}


def init_app(app: Flask) -> None:
    from forum.templating import register_template_hook
    from notifications import (
        models,  # noqa: F401  (tables for create_all and Alembic)
        receivers,
        services,
        views,
    )
    from notifications.cli import notifications_cli

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.config.setdefault(
        "NOTIFICATIONS_TRANSPORT", "file" if app.config["ENV"] == "development" else "smtp"
    )

    app.register_blueprint(views.bp)
    receivers.connect(app)
    app.cli.add_command(notifications_cli)

    register_template_hook(app, "thread_actions", "notifications/_thread_subscription.html")
    register_template_hook(app, "module_actions", "notifications/_module_subscription.html")
    register_template_hook(app, "nav", "notifications/_nav.html")
    register_template_hook(app, "settings_links", "notifications/_settings_link.html")

    @app.context_processor
    def _subscription_helpers():
        from flask_login import current_user

        return {
            "thread_email_state": lambda prompt: services.thread_subscription_state(
                current_user, prompt
            ),
            "module_email_state": lambda module: services.module_subscription_state(
                current_user, module
            ),
        }
