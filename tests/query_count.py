"""Counting the SQL statements a request runs, for the fixed-query-count tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from forum.extensions import db

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@contextmanager
def statements(app) -> Iterator[list[str]]:
    """Collect every statement (transaction control left out) run while the block runs."""
    seen: list[str] = []

    def _record(_conn, _cursor, statement, _params, _context, _executemany):
        text = statement.lstrip()
        if not text.upper().startswith(TRANSACTION_CONTROL):
            seen.append(text)

    with app.app_context():
        engine = db.engine
    # The front cache reads an anonymous page's versions on a connection of its own.
    front = app.extensions.get("hearth_front_cache")
    listeners = front.versions.listeners if front is not None else []
    listeners.append(seen.append)
    event.listen(engine, "before_cursor_execute", _record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", _record)
        listeners.remove(seen.append)


def writes(seen: list[str]) -> list[str]:
    """The statements among ``seen`` that change data."""
    return [s for s in seen if s.upper().startswith(WRITES)]
