"""``flask course import FILE``."""

from pathlib import Path

import click
from flask.cli import AppGroup

from forum.courses.services import CourseFileError, import_course, read_course_file
from forum.extensions import db

course_cli = AppGroup("course", help="Import and update courses.")


@course_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path: Path) -> None:
    """Create or update a course from a .toml or .json file. Never deletes posts."""
    try:
        report = import_course(read_course_file(path))
    except CourseFileError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(str(report))
