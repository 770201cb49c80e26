"""Private journal entries and the conversation under each one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.accounts.models import User
from forum.courses.models import Course, Module
from forum.database import UTCDateTime, enum_type, utcnow
from forum.extensions import Model
from forum.markup import StoredMarkdown


class EntryStatus(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"  # by its author: the text is gone, nobody else can open it


class EntryState(StrEnum):
    """What the learner sees about their entry."""

    WAITING = "waiting"  # no facilitator has opened it yet
    READ = "read"  # a facilitator opened it
    REPLIED = "replied"  # a facilitator replied
    WITHDRAWN = "withdrawn"


ENTRY_STATE_LABELS = {
    EntryState.WAITING: "Waiting to be read",
    EntryState.READ: "Read by a facilitator",
    EntryState.REPLIED: "A facilitator replied",
    EntryState.WITHDRAWN: "Withdrawn",
}


class JournalEntry(StoredMarkdown, Model):
    __tablename__ = "journal_entries"
    __table_args__ = (Index("ix_journal_entries_author_created", "author_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"), index=True)
    # Denormalised from the module: who may read the entry is decided by its course.
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    status: Mapped[EntryStatus] = mapped_column(
        enum_type(EntryStatus, 16), default=EntryStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_staff_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The author changed the text after a facilitator's last reply.
    edited_since_reply: Mapped[bool] = mapped_column(default=False)

    author: Mapped[User] = relationship()
    module: Mapped[Module] = relationship()
    course: Mapped[Course] = relationship()
    replies: Mapped[list[JournalReply]] = relationship(
        back_populates="entry", order_by="JournalReply.id"
    )

    @property
    def state(self) -> EntryState:
        if self.status == EntryStatus.WITHDRAWN:
            return EntryState.WITHDRAWN
        if self.last_staff_reply_at is not None:
            return EntryState.REPLIED
        if self.first_read_at is not None:
            return EntryState.READ
        return EntryState.WAITING

    @property
    def state_label(self) -> str:
        return ENTRY_STATE_LABELS[self.state]

    @property
    def is_active(self) -> bool:
        return self.status == EntryStatus.ACTIVE


class JournalReply(StoredMarkdown, Model):
    """One message under an entry: a facilitator's reply or the learner's answer."""

    __tablename__ = "journal_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    from_staff: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    entry: Mapped[JournalEntry] = relationship(back_populates="replies")
    author: Mapped[User] = relationship()
