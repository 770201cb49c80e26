"""The append-only audit log: who did what to which thing, why, and when.

Journal access by staff, moderator actions, sanctions and role changes are all written
here through :func:`record`. Rows are never changed or deleted: the ORM refuses to, and
nothing in Hearth offers a way to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, event, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.accounts.models import User
from forum.database import UTCDateTime, utcnow
from forum.extensions import Model, db

MAX_REASON_CHARS = 2000


class AuditEntry(Model):
    """One thing that happened. ``subject_type`` is a table name, ``subject_id`` its row."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_subject", "subject_type", "subject_id", "id"),
        Index("ix_audit_log_action_id", "action", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # None: the operator's command line or the system itself (a rule, the worker).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[int | None]
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    actor: Mapped[User | None] = relationship(lazy="raise")


class AuditLogIsAppendOnly(RuntimeError):
    """Something tried to change or delete an audit row."""


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_changes(_mapper, _connection, target: AuditEntry) -> None:
    raise AuditLogIsAppendOnly(f"audit row {target.id} can't be changed or deleted")


def subject_of(thing: Any) -> tuple[str, int | None]:
    """(table name, id) for a model instance, so any row can be an audit subject."""
    return thing.__tablename__, thing.id


def record(
    actor: User | None,
    action: str,
    subject: Any,
    reason: str | None = None,
    **details: Any,
) -> AuditEntry:
    """Append one audit row in the caller's transaction.

    ``subject`` is a model instance or a (type, id) pair; ``details`` must be JSON-able.
    """
    subject_type, subject_id = subject if isinstance(subject, tuple) else subject_of(subject)
    actor_id = actor.id if actor is not None and getattr(actor, "is_authenticated", False) else None
    entry = AuditEntry(
        actor_id=actor_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        reason=(reason or None) and reason[:MAX_REASON_CHARS],
        details=details or None,
        created_at=utcnow(),
    )
    db.session.add(entry)
    db.session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilter:
    """What an audit page asks for; every part optional."""

    action: str | None = None
    subject_type: str | None = None
    subject_id: int | None = None
    actor_id: int | None = None


def audit_query(filters: AuditFilter):
    """A select of audit rows, newest first, matching ``filters`` (for db.paginate)."""
    query = db.select(AuditEntry).order_by(AuditEntry.id.desc())
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.subject_type:
        query = query.where(AuditEntry.subject_type == filters.subject_type)
    if filters.subject_id is not None:
        query = query.where(AuditEntry.subject_id == filters.subject_id)
    if filters.actor_id is not None:
        query = query.where(AuditEntry.actor_id == filters.actor_id)
    return query


def entries_for(subject: Any, action_prefix: str | None = None) -> list[AuditEntry]:
    """Every audit row about one subject, oldest first (e.g. who opened a journal entry)."""
    subject_type, subject_id = subject if isinstance(subject, tuple) else subject_of(subject)
    query = db.select(AuditEntry).where(
        AuditEntry.subject_type == subject_type, AuditEntry.subject_id == subject_id
    )
    if action_prefix:
        query = query.where(func.substr(AuditEntry.action, 1, len(action_prefix)) == action_prefix)
    return list(db.session.execute(query.order_by(AuditEntry.id)).scalars())
