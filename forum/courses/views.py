"""Course and module pages."""

from flask import Blueprint, abort, render_template

from forum import cache
from forum.courses.services import (
    SLUG_RE,
    course_page_version,
    find_module_versioned,
    get_course,
    list_courses,
    load_course_page,
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
    found = get_course(course_slug)
    if found is None:
        abort(404)

    def _render() -> str:
        return render_template("courses/course.html", course=load_course_page(found))

    if _cacheable():
        return cache.cached_page(f"course:{course_page_version(found)}", _render)
    return _render()


@bp.get("/c/<course_slug>/<module_slug>")
def module(course_slug: str, module_slug: str):
    _check_slugs(course_slug, module_slug)
    found = find_module_versioned(course_slug, module_slug)
    if found is None:
        abort(404)
    module, version = found

    def _render() -> str:
        return render_template("courses/module.html", course=module.course, module=module)

    if _cacheable():
        return cache.cached_page(f"module:{version}", _render)
    return _render()
