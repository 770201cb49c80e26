"""Support signals: noticing learners who may need a facilitator, and (later) reaching them.

Importing this package has no side effects: the lexicon is read on the first detection.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the ``flask support`` commands."""
    from forum.support.cli import support_cli

    app.cli.add_command(support_cli)

    # Requests, concerns, the facilitators' queue (forum/support/views.py and services.py).
    from forum.support import models, services, views  # noqa: F401  (models: tables)
    from forum.support.cli_admin import facilitators_cli
    from forum.templating import register_template_hook

    app.register_blueprint(views.bp)
    app.cli.add_command(facilitators_cli)
    services.connect(app)
    register_template_hook(app, "nav", "support/_nav.html")
    register_template_hook(app, "post_actions", "support/_post_actions.html")
    register_template_hook(app, "page_top", "support/_panel.html")
    app.jinja_env.globals["support_panel"] = views.take_panel
