"""Every route of the app, as a URL a test can request: converters filled with values that
exist in the ``cast`` world of tests/journals (course "allyship", ids 1...)."""

from __future__ import annotations

from flask import url_for
from werkzeug.routing import IntegerConverter

from forum.urls import RowIdConverter

STRING_VALUES = {
    "course_slug": "allyship",
    "module_slug": "noticing",
    "prompt_slug": "first-memory",
    "token": "x" * 22,
    "name": "nothing.eml",
    "filename": "hearth.css",
}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def rule_url(app, rule, ids: dict[str, int] | None = None) -> str:
    values = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, (IntegerConverter, RowIdConverter)):
            values[name] = (ids or {}).get(name, 1)
        else:
            values[name] = STRING_VALUES.get(name, "x")
    with app.test_request_context():
        return url_for(rule.endpoint, **values)


def rules(app, methods: set[str]):
    """(rule, methods it answers of ``methods``) for every rule but static files."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        wanted = (rule.methods or set()) & methods
        if wanted and rule.endpoint != "static":
            yield rule, wanted
