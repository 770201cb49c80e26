"""Course and module pages."""

from flask import Blueprint, render_template

from forum.courses.services import list_courses

bp = Blueprint("courses", __name__)


@bp.get("/")
def index():
    return render_template("courses/index.html", courses=list_courses())
