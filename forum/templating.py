"""What every template may use: the site's name, dates people can read, role names."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from forum.accounts.models import Role
from forum.database import utcnow


def humanize_time(value: datetime | None) -> str:
    """'3 minutes ago', 'yesterday', or a date: how long ago, in words."""
    if value is None:
        return ""
    seconds = int((utcnow() - value).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    if seconds < 86400:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    if seconds < 2 * 86400:
        return "yesterday"
    return value.strftime("%-d %B %Y")


def init_templating(app: Flask) -> None:
    app.jinja_env.filters["ago"] = humanize_time
    app.jinja_env.filters["isotime"] = lambda v: v.isoformat() if v else ""

    @app.context_processor
    def _globals():
        return {"site_name": app.config["SITE_NAME"], "Role": Role}
