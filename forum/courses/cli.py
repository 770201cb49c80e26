"""``flask course import FILE``."""

from pathlib import Path

import click

from forum.courses.services import import_course, read_course_file
from forum.transactions import TransactionalGroup

course_cli = TransactionalGroup("course", help="Import and update courses.")


@course_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path: Path) -> None:
    """Create or update a course from a .toml or .json file. Never deletes posts."""
    click.echo(str(import_course(read_course_file(path))))
