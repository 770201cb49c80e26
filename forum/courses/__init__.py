"""Courses, modules and their reflection prompts."""

from pathlib import Path

from flask import Flask

DEMO_COURSE_FILE = Path(__file__).parent / "demo_course.toml"


def init_app(app: Flask) -> None:
    from forum.courses import cli, views

    app.register_blueprint(views.bp)
    app.cli.add_command(cli.course_cli)
