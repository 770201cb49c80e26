"""Private journals: a learner's entries for each module's journal prompt, read only by
them, their course's facilitators and admins (every staff opening logged)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from forum.journals import models, views  # noqa: F401  (models: tables)
    from forum.templating import register_template_hook

    app.register_blueprint(views.bp)
    register_template_hook(app, "nav", "journals/_nav.html")
    register_template_hook(app, "module_actions", "journals/_module_action.html")
