"""Database plumbing shared by every package: UTC timestamps and SQLite tuning."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum as PyEnum
from pathlib import Path

from flask import has_request_context, request
from sqlalchemy import DateTime, Enum, event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite drops the zone, so it is put back on load."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_type(enum_class: type[PyEnum], length: int = 20) -> Enum:
    """A column type for a StrEnum, stored as its value in a VARCHAR on every backend.

    Not a native PostgreSQL ENUM: adding a member must not need a type migration. Loading
    gives the enum member back, and an unknown value is refused on write.
    """
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Make SQLite safe for several processes: WAL, a busy timeout, immediate write locks.

    pysqlite's own transaction handling starts transactions lazily and never with
    ``BEGIN IMMEDIATE``; a deferred transaction that later writes can fail at once with
    "database is locked" instead of waiting. So we turn the driver's handling off and
    emit BEGIN ourselves: reads of a safe HTTP method start a deferred transaction (WAL
    lets them run beside a writer), everything else takes the write lock up front and
    waits for it up to the busy timeout.
    """

    @event.listens_for(engine, "do_connect")
    def _ensure_folder(_dialect, _record, cargs, _cparams):
        # An installed copy's instance folder may not exist yet: make it on first use,
        # not when the app is built.
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        read_only = has_request_context() and request.method in SAFE_METHODS
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def configure_postgresql(engine: Engine) -> None:
    """Keep psycopg's prepared statements across requests.

    psycopg forgets (``DEALLOCATE ALL``) every prepared statement of a connection when a
    transaction is rolled back, and every GET used to end in a rollback (the session is
    removed after each request). So a transaction started for a safe HTTP method is READ
    ONLY (psycopg's ``read_only``: the server refuses any write, which also enforces "no
    write on GET"), and ends with COMMIT, which for a read-only transaction is the same as
    a rollback but keeps the statements prepared. Any other transaction, and one that
    failed, still rolls back.

    The pool keeps ``pool_pre_ping`` (one "SELECT 1" per checkout, in autocommit): the
    first request after a database restart must succeed, not fail on a dead connection.
    """
    from psycopg.pq import TransactionStatus

    dialect = engine.dialect
    rollback = dialect.do_rollback

    @event.listens_for(engine, "checkout")
    def _read_only_for_safe_requests(dbapi_connection, _record, _proxy):
        read_only = has_request_context() and request.method in SAFE_METHODS
        if dbapi_connection.read_only != read_only:
            dbapi_connection.read_only = read_only

    def do_rollback(dbapi_connection) -> None:
        raw = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        if (
            getattr(raw, "read_only", False)
            and raw.info.transaction_status == TransactionStatus.INTRANS
        ):
            raw.commit()
        else:
            rollback(dbapi_connection)

    dialect.do_rollback = do_rollback  # type: ignore[method-assign]
