"""Small pieces every notifications module uses: the error type, upserts, retry delays."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from flask import current_app

from forum.extensions import db
from forum.service_errors import ServiceError

T = TypeVar("T")


class NotificationError(ServiceError):
    """A rule about notifications was broken; the message is meant for the person (422)."""


def insert_ignoring_duplicates(model: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the session's dialect (SQLite or PostgreSQL)."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(model).on_conflict_do_nothing()
    raise RuntimeError(f"unsupported database dialect {dialect}")  # pragma: no cover


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def retry_delay(attempts: int) -> timedelta:
    """base * 2^(attempts-1) seconds, capped: 1, 2, 4, 8 ... minutes with the defaults."""
    config = current_app.config
    base = float(config["NOTIFICATIONS_RETRY_BASE"])
    cap = float(config["NOTIFICATIONS_RETRY_MAX_DELAY"])
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def describe_error(exc: BaseException) -> str:
    """One line for ``last_error`` columns and logs: the exception's type and message."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
