"""Where Hearth's files are: templates, static files, migrations and the instance folder.

The source tree keeps ``templates/``, ``static/`` and ``migrations/`` at the top level,
beside the packages. A built wheel cannot install top-level folders by those names (they
would collide with other projects'), so ``pyproject.toml`` ships them as the data-only
package ``hearth_assets`` (``hearth_assets/templates`` and so on). These functions find
them in either place, so the same code runs from a checkout, an editable install and a
plain ``pip install .``.

The instance folder holds what belongs to one installation (the SQLite database, the
development secret key, written emails). ``HEARTH_INSTANCE_PATH`` sets it. Otherwise a
checkout uses ``<repository>/instance``, as ``make run`` expects, and an installed copy
uses ``instance`` under the current working directory, because site-packages is no
place for data.
"""

from __future__ import annotations

import os
from functools import cache
from importlib.util import find_spec
from pathlib import Path

#: The folder that holds the ``forum`` package: the repository in a checkout,
#: site-packages when installed.
PACKAGE_PARENT = Path(__file__).resolve().parent.parent
#: The data-only package a wheel carries the top-level folders in.
ASSETS_PACKAGE = "hearth_assets"
INSTANCE_PATH_VARIABLE = "HEARTH_INSTANCE_PATH"


def is_source_checkout() -> bool:
    """True when running from the repository (directly or as an editable install)."""
    # pyproject.toml sits beside the packages only in a checkout, never in site-packages.
    return (PACKAGE_PARENT / "pyproject.toml").is_file() and (PACKAGE_PARENT / "templates").is_dir()


@cache
def assets_root() -> Path:
    """The folder holding ``templates``, ``static`` and ``migrations``."""
    if is_source_checkout():
        return PACKAGE_PARENT
    spec = find_spec(ASSETS_PACKAGE)
    # A namespace package (no __init__.py) may span several folders; take the one that
    # really has the templates.
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "templates").is_dir():
            return Path(location)
    raise RuntimeError(
        f"Hearth's templates are missing: neither a source checkout nor the installed "
        f"'{ASSETS_PACKAGE}' package was found next to {PACKAGE_PARENT}. Reinstall Hearth."
    )


def templates_dir() -> Path:
    """The Jinja templates."""
    return assets_root() / "templates"


def static_dir() -> Path:
    """The stylesheet, script and icons served under /static."""
    return assets_root() / "static"


def migrations_dir() -> Path:
    """Alembic's environment and revisions."""
    return assets_root() / "migrations"


def instance_dir() -> Path:
    """This installation's own files: HEARTH_INSTANCE_PATH, else see the module's docstring."""
    configured = os.environ.get(INSTANCE_PATH_VARIABLE)
    if configured:
        return Path(configured).expanduser().resolve()
    if is_source_checkout():
        return PACKAGE_PARENT / "instance"
    return Path.cwd().resolve() / "instance"
