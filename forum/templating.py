"""What every template may use: the site's name, dates people can read, role names."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, g

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


def register_template_hook(app: Flask, slot: str, template: str) -> None:
    """Let another package put a partial template into one of the core's page slots.

    Slots the core offers: ``nav`` (links in the header for a logged-in user),
    ``thread_actions`` (beside a thread's title; gets ``prompt``), ``module_actions``
    (beside a module's title; gets ``module``), ``post_actions`` (under each post, for
    signed-in readers only; gets ``post``), ``settings_links`` (on the account settings
    page), ``page_top`` (the top of every page's main content, before flashed messages:
    the support panel).

    An anonymous reader's thread, module and course pages are cached per data version
    (forum/cache.py): what a hook shows an anonymous reader must change only with the
    thread's data (a thread lock bumps it: threads.services.touch_thread).
    """
    hooks = app.extensions.setdefault("hearth_template_hooks", {})
    if template not in hooks.setdefault(slot, []):
        hooks[slot].append(template)


def _ago(value: datetime | None) -> str:
    # A page rendered for the shared cache keeps a mark; forum.cache fills in the words
    # for each request, so a cached "just now" doesn't stay "just now".
    if value is not None and g.get("hearth_defer_ago"):
        return f"\x00ago:{value.isoformat()}\x00"
    return humanize_time(value)


def init_templating(app: Flask) -> None:
    app.jinja_env.filters["ago"] = _ago
    app.jinja_env.filters["isotime"] = lambda v: v.isoformat() if v else ""

    @app.context_processor
    def _globals():
        return {
            "site_name": app.config["SITE_NAME"],
            "Role": Role,
            "template_hooks": lambda slot: app.extensions.get("hearth_template_hooks", {}).get(
                slot, []
            ),
        }
