"""WSGI entry point: ``gunicorn wsgi:app``, and the app the ``flask --app wsgi`` commands use."""

import sys

from forum import create_app
from forum.config import ConfigError
from forum.support.detector import default_lexicon

# gunicorn's exit status for "the application failed to load": its master then stops,
# instead of booting a new worker that fails the same way, forever. To a shell, systemd or
# the flask command it is simply a failure.
APP_LOAD_ERROR = 4

try:
    app = create_app()
except ConfigError as error:
    # A missing setting is the operator's to fix: one line that says which, no traceback.
    print(f"Hearth can't start: {error}", file=sys.stderr)
    raise SystemExit(APP_LOAD_ERROR) from None

# Compiled when a worker starts, not during the first reflection it receives (a tenth of a
# second that someone would wait for).
default_lexicon()
