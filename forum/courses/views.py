"""Course and module pages."""

from flask import Blueprint, abort, render_template

from forum import cache
from forum.courses.services import (
    SLUG_RE,
    course_page,
    course_version,
    find_module,
    list_courses,
    module_version,
)

bp = Blueprint("courses", __name__)


@bp.get("/")
def index():
    return render_template("courses/index.html", courses=list_courses())


def _check_slugs(*slugs: str) -> None:
    # A slug that can't exist (NUL bytes, odd characters, too long) never reaches the database.
    if not all(SLUG_RE.fullmatch(slug) for slug in slugs):
        abort(404)


def _cacheable() -> bool:
    # Only the page's own address: its "Log in" link carries the address it was asked for.
    return not cache.request.query_string and cache.anonymous_cacheable()


@bp.get("/c/<course_slug>")
def course(course_slug: str):
    _check_slugs(course_slug)

    def _render() -> str:
        found = course_page(course_slug)
        if found is None:
            abort(404)
        return render_template("courses/course.html", course=found)

    if _cacheable():
        version = course_version(course_slug)
        if version is None:
            abort(404)
        return cache.cached_page(f"course:{version}", _render)
    return _render()


@bp.get("/c/<course_slug>/<module_slug>")
def module(course_slug: str, module_slug: str):
    _check_slugs(course_slug, module_slug)

    def _render() -> str:
        found = find_module(course_slug, module_slug)
        if found is None:
            abort(404)
        return render_template("courses/module.html", course=found.course, module=found)

    if _cacheable():
        version = module_version(course_slug, module_slug)
        if version is None:
            abort(404)
        return cache.cached_page(f"module:{version}", _render)
    return _render()
