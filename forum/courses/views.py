"""Course and module pages."""

from flask import Blueprint, abort, render_template

from forum import cache
from forum.courses.services import (
    COURSE_VERSION,
    MODULE_VERSION,
    SLUG_RE,
    course_page,
    find_module,
    list_courses,
)
from forum.extensions import unlimited_read
from forum.front_cache import page_version, register_anonymous_page

bp = Blueprint("courses", __name__)
# An anonymous reader's course and module pages are replayed by the front cache while
# these versions hold (forum/front_cache.py).
bp.record_once(lambda state: register_anonymous_page(state.app, "courses.course", COURSE_VERSION))
bp.record_once(lambda state: register_anonymous_page(state.app, "courses.module", MODULE_VERSION))


@bp.get("/")
@unlimited_read
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
@unlimited_read
def course(course_slug: str):
    _check_slugs(course_slug)

    def _render() -> str:
        found = course_page(course_slug)
        if found is None:
            abort(404)
        return render_template("courses/course.html", course=found)

    if _cacheable():
        version = page_version("courses.course", course_slug=course_slug)
        if version is None:
            abort(404)
        return cache.cached_page(f"course:{version}", _render)
    return _render()


@bp.get("/c/<course_slug>/<module_slug>")
@unlimited_read
def module(course_slug: str, module_slug: str):
    _check_slugs(course_slug, module_slug)

    def _render() -> str:
        found = find_module(course_slug, module_slug)
        if found is None:
            abort(404)
        return render_template("courses/module.html", course=found.course, module=found)

    if _cacheable():
        version = page_version("courses.module", course_slug=course_slug, module_slug=module_slug)
        if version is None:
            abort(404)
        return cache.cached_page(f"module:{version}", _render)
    return _render()
