"""Notifications: subscriptions, the outbox and its worker, digests, unsubscribe, alerts.

Imports the core (and moderation) and listens to their signals; the core knows it only by
name. See docs/architecture.md.
"""

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
    # Sending attempts of one message before it is failed for good.
    "NOTIFICATIONS_MAX_ATTEMPTS": 8,
    # Attempts of one event's handler (failures, or a worker dying in it) before the event
    # is set aside as failed; the delays between them grow like the messages'.
    "NOTIFICATIONS_EVENT_MAX_ATTEMPTS": 8,
    "NOTIFICATIONS_EXCERPT_CHARS": 500,
    # UTC hour after which the worker's digest job (long-running, or `worker --once` from
    # cron) queues the day's digests, once a day across all workers (None: only
    # `flask notifications digest` does).
    "NOTIFICATIONS_DIGEST_HOUR": 7,
    "NOTIFICATIONS_UNSUBSCRIBE_RATE_LIMIT": "20 per minute;200 per hour",
    "NOTIFICATIONS_MAIL_DIR": None,  # default: instance/mail
    # `flask notifications prune` deletes sent/cancelled mail and finished events older than
    # this many days, this many rows per statement.
    "NOTIFICATIONS_PRUNE_AFTER_DAYS": 30,
    "NOTIFICATIONS_PRUNE_BATCH": 1000,
    "MAIL_TIMEOUT": 30,
    # DKIM signing by the worker, for relays that don't sign (notifications/dkim.py): all
    # three set to turn it on (HEARTH_DKIM_SELECTOR, _DOMAIN, _PRIVATE_KEY_PATH: a PEM key).
    "DKIM_SELECTOR": None,
    "DKIM_DOMAIN": None,
    "DKIM_PRIVATE_KEY_PATH": None,
}


def init_app(app: Flask) -> None:
    from forum.templating import register_template_hook
    from forum.threads.frames import register_thread_variant
    from notifications import (
        models,  # noqa: F401  (tables for create_all and Alembic)
        moderation_mail,
        receivers,
        services,
        subscriptions,
        support_mail,
        views,
    )
    from notifications.cli import notifications_cli
    from notifications.events import register_event_kind
    from notifications.fanout import NEW_POST, handle_new_post
    from notifications.worker import register_builtin_jobs

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.config.setdefault(
        "NOTIFICATIONS_TRANSPORT", "file" if app.config["ENV"] == "development" else "smtp"
    )

    app.register_blueprint(views.bp)
    receivers.connect(app)
    moderation_mail.connect(app)
    support_mail.connect(app)
    register_event_kind(NEW_POST, handle_new_post, app=app)
    register_builtin_jobs(app)
    app.cli.add_command(notifications_cli)

    register_template_hook(app, "thread_actions", "notifications/_thread_subscription.html")
    register_template_hook(app, "module_actions", "notifications/_module_subscription.html")
    register_template_hook(app, "nav", "notifications/_nav.html")
    register_template_hook(app, "settings_links", "notifications/_settings_link.html")
    # The thread page a signed-in reader gets from a shared frame differs by this
    # (forum/threads/frames.py): the thread's email form shows the reader's setting.
    register_thread_variant(
        app,
        "email",
        subscriptions.THREAD_VARIANT_COLUMNS,
        subscriptions.thread_subscription_variant,
    )

    @app.context_processor
    def _subscription_helpers():
        from flask_login import current_user

        return {
            "thread_email_state": lambda prompt: subscriptions.thread_email_state_for_page(
                current_user, prompt
            ),
            "module_email_state": lambda module: services.module_subscription_state(
                current_user, module
            ),
        }
