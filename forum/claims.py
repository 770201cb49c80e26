"""Claiming work with an expiry: the outbox's workers, the facilitators' triage queue and
the moderators' review queue all take items this way.

A claim is two columns on the claimed row: who holds it and until when. Taking one is a
single conditional UPDATE ("set the holder where nobody else holds a live claim"), which
PostgreSQL and SQLite both apply atomically, so two people or workers racing for one item
can never both win: exactly one UPDATE matches the row. Batches for workers are picked
with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers on several hosts take different
rows without waiting for each other; SQLite serialises writers, which gives the same.
A claim that expires (its holder died or walked away) can be taken by anyone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, or_, update
from sqlalchemy.orm.util import identity_key

from forum.database import utcnow
from forum.extensions import db

HOLDER = "claimed_by"
UNTIL = "claimed_until"


def _columns(model: Any, holder: str, until: str):
    return getattr(model, holder), getattr(model, until)


def claim(
    model: Any,
    row_id: int,
    holder: Any,
    lease: timedelta,
    *,
    holder_column: str = HOLDER,
    until_column: str = UNTIL,
    where: Iterable[ColumnElement[bool]] = (),
    now: datetime | None = None,
) -> bool:
    """Take (or renew) a claim on one row; False if someone else's claim is still live.

    ``where`` adds conditions the row must still meet (e.g. "not decided yet"), checked
    in the same statement, so a decision made a moment ago can't be claimed again.
    """
    now = now or utcnow()
    holder_col, until_col = _columns(model, holder_column, until_column)
    statement = (
        update(model)
        .where(
            model.id == row_id,
            or_(until_col.is_(None), until_col < now, holder_col == holder),
            *where,
        )
        .values({holder_column: holder, until_column: now + lease})
        .execution_options(synchronize_session=False)
    )
    won = _rowcount(db.session.execute(statement)) == 1
    _refresh_loaded(model, row_id, holder_column, until_column)
    return won


def release(
    model: Any,
    row_id: int,
    holder: Any,
    *,
    holder_column: str = HOLDER,
    until_column: str = UNTIL,
) -> bool:
    """Give back a claim we hold; False if it was not ours (expired and taken, or never)."""
    holder_col, _until_col = _columns(model, holder_column, until_column)
    statement = (
        update(model)
        .where(model.id == row_id, holder_col == holder)
        .values({holder_column: None, until_column: None})
        .execution_options(synchronize_session=False)
    )
    released = _rowcount(db.session.execute(statement)) == 1
    _refresh_loaded(model, row_id, holder_column, until_column)
    return released


def _rowcount(result: Any) -> int:
    # An UPDATE's result is a CursorResult; Session.execute is typed more loosely.
    return cast(CursorResult[Any], result).rowcount


def _refresh_loaded(model: Any, row_id: int, *columns: str) -> None:
    # The UPDATE went around the ORM: an already loaded row must re-read its claim.
    loaded = db.session.identity_map.get(identity_key(model, row_id))
    if loaded is not None:
        db.session.expire(loaded, list(columns))


def holds_live_claim(row: Any, holder: Any, now: datetime | None = None, **columns: str) -> bool:
    """Whether ``holder`` holds an unexpired claim on an already loaded ``row``."""
    until = getattr(row, columns.get("until_column", UNTIL))
    return getattr(row, columns.get("holder_column", HOLDER)) == holder and (
        until is not None and until >= (now or utcnow())
    )


def claim_due(
    model: Any,
    due: ColumnElement[bool],
    order_by: Iterable[Any],
    holder: Any,
    lease: timedelta,
    limit: int,
    *,
    holder_column: str = HOLDER,
    until_column: str = UNTIL,
    now: datetime | None = None,
) -> list[Any]:
    """Claim up to ``limit`` rows that are ``due`` and not under a live claim; flush only.

    For workers: the rows come back loaded and marked as ours; the caller sets any other
    columns (status, attempts) and commits before doing slow work with them.
    """
    now = now or utcnow()
    _holder_col, until_col = _columns(model, holder_column, until_column)
    query = (
        db.select(model)
        .where(and_(due, or_(until_col.is_(None), until_col < now)))
        .order_by(*order_by)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(db.session.execute(query).scalars())
    for row in rows:
        setattr(row, holder_column, holder)
        setattr(row, until_column, now + lease)
    db.session.flush()
    return rows
