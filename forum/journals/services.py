"""Private journals: writing, editing and withdrawing entries, the conversation under each,
and who may open them.

An entry is read by its author, by the facilitators of its course and by admins; every
opening by staff is written to the audit log, and the author can see who opened it and
when. For everyone else an entry does not exist (NotFound, whatever their role).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import func
from sqlalchemy.orm import joinedload, load_only, selectinload

from forum import audit
from forum.accounts.models import User
from forum.audit import AuditEntry
from forum.courses.models import Course, Module
from forum.database import utcnow
from forum.extensions import db
from forum.journals.models import EntryStatus, JournalEntry, JournalReply
from forum.markup import render_markdown
from forum.service_errors import NotFound, ServiceError
from forum.signals import journal_replied, sender
from forum.support import services as support
from forum.support.detector import Tier
from forum.support.models import SupportSignal
from forum.text import clean_multiline

VIEWED = "journal.viewed"
NOTHING_HERE = "There is nothing here."


class JournalError(ServiceError):
    """A rule about journals was broken; the message is meant for the person."""


@dataclass(frozen=True)
class Saved:
    """An entry after saving, and whether the detector saw crisis-tier words in it."""

    entry: JournalEntry
    crisis: bool


# --- who may do what ---------------------------------------------------------------------


def _check_can_write(user: User) -> None:
    if not getattr(user, "is_authenticated", False):
        raise NotFound(NOTHING_HERE)
    if not user.is_confirmed:
        raise JournalError("Please confirm your email address before writing in your journal.")


def is_author(user: User, entry: JournalEntry) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and entry.author_id == user.id


def is_staff_reader(user: User, entry: JournalEntry) -> bool:
    """A facilitator of the entry's course, or an admin (never the author themselves)."""
    return (
        not is_author(user, entry)
        and entry.is_active
        and support.can_facilitate(user, entry.course_id)
    )


def get_entry(user: User, entry_id: int) -> JournalEntry:
    """The entry, if ``user`` may reach it at all; NotFound for everyone else."""
    entry = db.session.get(JournalEntry, entry_id)
    if entry is None:
        raise NotFound(NOTHING_HERE)
    if is_author(user, entry) or is_staff_reader(user, entry):
        return entry
    raise NotFound(NOTHING_HERE)


def get_own_entry(user: User, entry_id: int) -> JournalEntry:
    """The entry, only for its author (editing, withdrawing, asking for support)."""
    entry = db.session.get(JournalEntry, entry_id)
    if entry is None or not is_author(user, entry):
        raise NotFound(NOTHING_HERE)
    return entry


def get_entry_for_staff(user: User, entry_id: int) -> JournalEntry:
    entry = db.session.get(JournalEntry, entry_id)
    if entry is None or not is_staff_reader(user, entry):
        raise NotFound(NOTHING_HERE)
    return entry


def journal_module(user: User, course_slug: str, module_slug: str) -> Module:
    """The module whose journal prompt ``user`` is about to answer."""
    _check_can_write(user)
    module = db.session.execute(
        db.select(Module)
        .join(Course, Module.course_id == Course.id)
        .options(joinedload(Module.course))
        .where(Course.slug == course_slug, Module.slug == module_slug)
    ).scalar_one_or_none()
    if module is None or not module.journal_prompt.strip():
        raise NotFound(NOTHING_HERE)
    return module


# --- writing -----------------------------------------------------------------------------


def _clean_body(body: str | None, field: str = "body") -> str:
    text = clean_multiline(body).strip()
    limit = current_app.config["JOURNAL_MAX_CHARS"]
    if not text:
        raise JournalError("Please write something before saving.", field=field)
    if len(text) > limit:
        raise JournalError(
            f"This is {len(text):,} characters long; the limit is {limit:,}. "
            "Please shorten it and save again.",
            field=field,
        )
    return text


def _crisis(signal: SupportSignal | None) -> bool:
    return signal is not None and signal.tier == Tier.CRISIS


def create_entry(author: User, module: Module, body: str) -> Saved:
    """Write a journal entry; it waits for a facilitator in the queue."""
    _check_can_write(author)
    if not module.journal_prompt.strip():
        raise NotFound(NOTHING_HERE)
    text = _clean_body(body)
    now = utcnow()
    entry = JournalEntry(
        author_id=author.id,
        module_id=module.id,
        course_id=module.course_id,
        status=EntryStatus.ACTIVE,
        created_at=now,
        edited_since_reply=False,
    )
    entry.store_rendered(render_markdown(text))
    entry.author = author
    entry.module = module
    db.session.add(entry)
    db.session.flush()
    signal = support.entry_written(entry, now)
    return Saved(entry, _crisis(signal))


def edit_entry(actor: User, entry: JournalEntry, body: str) -> Saved:
    """Change an entry's text; after a facilitator's reply it is marked as edited since."""
    if not is_author(actor, entry):
        raise NotFound(NOTHING_HERE)
    if not entry.is_active:
        raise JournalError("This entry was withdrawn and can't be changed.")
    text = _clean_body(body)
    if text == entry.body_source:
        return Saved(entry, False)
    now = utcnow()
    entry.set_body(text)
    entry.edited_at = now
    if entry.last_staff_reply_at is not None:
        entry.edited_since_reply = True
    db.session.flush()
    signal = support.entry_edited(entry, now)
    return Saved(entry, _crisis(signal))


def withdraw_entry(actor: User, entry: JournalEntry) -> JournalEntry:
    """The author takes an entry back: its text is deleted and nobody else can open it."""
    if not is_author(actor, entry):
        raise NotFound(NOTHING_HERE)
    if not entry.is_active:
        return entry
    now = utcnow()
    entry.status = EntryStatus.WITHDRAWN
    entry.withdrawn_at = now
    entry.store_rendered(render_markdown(""))
    db.session.flush()
    support.entry_withdrawn(actor, entry, now)
    return entry


def reply(actor: User, entry: JournalEntry, body: str) -> JournalReply:
    """A facilitator's reply, or the author's answer to one."""
    author = is_author(actor, entry)
    staff = is_staff_reader(actor, entry)
    if not (author or staff):
        raise NotFound(NOTHING_HERE)
    if not entry.is_active:
        raise JournalError("This entry was withdrawn.")
    text = _clean_body(body)
    now = utcnow()
    message = JournalReply(entry_id=entry.id, author_id=actor.id, from_staff=staff, created_at=now)
    message.store_rendered(render_markdown(text))
    message.author = actor
    db.session.add(message)
    if staff:
        entry.last_staff_reply_at = now
        entry.edited_since_reply = False
        if entry.first_read_at is None:
            entry.first_read_at = now
        db.session.flush()
        support.staff_replied(actor, entry, now)
        journal_replied.send(sender(), entry=entry, reply=message, actor=actor)
    else:
        db.session.flush()
        support.learner_answered(entry, now)
    return message


# --- reading -----------------------------------------------------------------------------


def open_entry(actor: User, entry: JournalEntry) -> JournalEntry:
    """A facilitator or admin opens an entry: one access row, and the entry is 'read'."""
    if not is_staff_reader(actor, entry):
        raise NotFound(NOTHING_HERE)
    audit.record(actor, VIEWED, entry)
    if entry.first_read_at is None:
        entry.first_read_at = utcnow()
        db.session.flush()
    return entry


def conversation(entry: JournalEntry) -> list[JournalReply]:
    return list(
        db.session.execute(
            db.select(JournalReply)
            .options(joinedload(JournalReply.author).options(load_only(User.id, User.display_name)))
            .where(JournalReply.entry_id == entry.id)
            .order_by(JournalReply.id)
        ).scalars()
    )


@dataclass(frozen=True)
class Access:
    who: str
    role: str
    at: datetime


def accesses(entry: JournalEntry) -> list[Access]:
    """Who opened the entry and when, oldest first (shown to its author)."""
    rows = db.session.execute(
        db.select(AuditEntry.created_at, User.display_name, User.role)
        .join(User, AuditEntry.actor_id == User.id)
        .where(
            AuditEntry.subject_type == JournalEntry.__tablename__,
            AuditEntry.subject_id == entry.id,
            AuditEntry.action == VIEWED,
        )
        .order_by(AuditEntry.id)
    ).all()
    return [Access(who=name, role=role.value, at=at) for at, name, role in rows]


def has_entries(user: User) -> bool:
    return (
        db.session.execute(
            db.select(func.count(JournalEntry.id)).where(JournalEntry.author_id == user.id)
        ).scalar_one()
        > 0
    )


@dataclass(frozen=True)
class JournalPage:
    entries: list[JournalEntry]
    page: int
    pages: int
    total: int


def my_journal(user: User, page: int) -> JournalPage:
    """The user's own entries, newest first, with their conversations."""
    if not getattr(user, "is_authenticated", False):
        raise NotFound(NOTHING_HERE)
    if page < 1:
        raise NotFound("That page doesn't exist.")
    query = (
        db.select(JournalEntry)
        .options(
            joinedload(JournalEntry.module).options(load_only(Module.id, Module.title)),
            selectinload(JournalEntry.replies)
            .joinedload(JournalReply.author)
            .options(load_only(User.id, User.display_name)),
        )
        .where(JournalEntry.author_id == user.id)
        .order_by(JournalEntry.created_at.desc(), JournalEntry.id.desc())
    )
    per_page = int(current_app.config["JOURNAL_ENTRIES_PER_PAGE"])
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    pages = max(1, pagination.pages)
    if page > pages:
        raise NotFound("That page doesn't exist.")
    return JournalPage(list(pagination.items), page, pages, pagination.total or 0)


def journal_modules(user: User) -> list[Module]:
    """Modules with a journal prompt, to start a new entry from."""
    return list(
        db.session.execute(
            db.select(Module)
            .options(joinedload(Module.course))
            .where(Module.journal_prompt != "")
            .order_by(Module.course_id, Module.position)
        ).scalars()
    )
