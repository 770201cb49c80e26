"""Course and module pages."""

from flask import Blueprint, abort, render_template

from forum.courses.services import SLUG_RE, find_module, get_course, list_courses

bp = Blueprint("courses", __name__)


@bp.get("/")
def index():
    return render_template("courses/index.html", courses=list_courses())


def _check_slugs(*slugs: str) -> None:
    # A slug that can't exist (NUL bytes, odd characters, too long) never reaches the database.
    if not all(SLUG_RE.fullmatch(slug) for slug in slugs):
        abort(404)


@bp.get("/c/<course_slug>")
def course(course_slug: str):
    _check_slugs(course_slug)
    found = get_course(course_slug)
    if found is None:
        abort(404)
    return render_template("courses/course.html", course=found)


@bp.get("/c/<course_slug>/<module_slug>")
def module(course_slug: str, module_slug: str):
    _check_slugs(course_slug, module_slug)
    found = find_module(course_slug, module_slug)
    if found is None:
        abort(404)
    return render_template("courses/module.html", course=found.course, module=found)
