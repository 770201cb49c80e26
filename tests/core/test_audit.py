"""The audit log is append-only and records who did what to which thing."""

from __future__ import annotations

import pytest

from forum.accounts.models import Role
from forum.audit import (
    AuditEntry,
    AuditFilter,
    AuditLogIsAppendOnly,
    audit_query,
    entries_for,
    record,
)
from forum.extensions import db


def test_record_and_read_back(app_ctx, make_user):
    admin = make_user(Role.ADMIN)
    target = make_user()
    record(admin, "role.changed", target, reason="Helps with moderation", old="participant")
    record(None, "course.imported", ("courses", 7))
    db.session.commit()
    (entry,) = entries_for(target)
    assert (entry.actor_id, entry.action, entry.subject_type, entry.subject_id) == (
        admin.id,
        "role.changed",
        "users",
        target.id,
    )
    assert entry.reason == "Helps with moderation" and entry.details == {"old": "participant"}
    by_system = db.session.execute(audit_query(AuditFilter(action="course.imported"))).scalars()
    assert [(e.actor_id, e.subject_id) for e in by_system] == [(None, 7)]


def test_rows_cannot_be_changed_or_deleted(app_ctx):
    entry = record(None, "x", ("t", 1))
    db.session.commit()
    entry.reason = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEntry, entry.id).reason is None
