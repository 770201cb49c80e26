"""Support: who facilitates which course, requests for support, detector signals, peers'
concerns, and the triage row that orders the facilitators' queue.

The queue reads only ``triage_items``: one row per subject (a journal entry or a public
post) with a denormalised ``rank`` and ``waiting_since``, kept up to date by
``forum.support.services`` whenever a request, signal, concern or reply changes. So the
queue page is one ordered, indexed query whatever its length.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.accounts.models import User
from forum.courses.models import Course, Module
from forum.database import UTCDateTime, enum_type, utcnow
from forum.extensions import Model
from forum.support.detector import Tier


class SubjectType(StrEnum):
    """What a request, signal or triage row is about. Stored: never rename."""

    JOURNAL_ENTRY = "journal_entry"
    POST = "post"


class Urgency(StrEnum):
    """How soon a learner asked to hear from a facilitator. Stored: never rename."""

    WHEN_YOU_CAN = "when_you_can"
    TODAY = "today"
    NOW = "now"


URGENCY_LABELS = {
    Urgency.WHEN_YOU_CAN: "When you can",
    Urgency.TODAY: "Today",
    Urgency.NOW: "I need help now",
}
# Higher is more urgent; used to keep the most urgent of a person's open requests.
URGENCY_ORDER = {Urgency.WHEN_YOU_CAN: 1, Urgency.TODAY: 2, Urgency.NOW: 3}


class RequestStatus(StrEnum):
    OPEN = "open"
    WITHDRAWN = "withdrawn"  # by the learner
    ANSWERED = "answered"  # a facilitator replied or acknowledged it


class ConcernStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # a facilitator dealt with the item


class TriageState(StrEnum):
    """Where a queue item is. Only WAITING items are in the default queue."""

    WAITING = "waiting"
    ANSWERED = "answered"  # a facilitator replied
    ACKNOWLEDGED = "acknowledged"  # seen and handled without a reply
    NO_RESPONSE_NEEDED = "no_response_needed"
    CLOSED = "closed"  # nothing left to do: the entry or the only request was withdrawn


TRIAGE_STATE_LABELS = {
    TriageState.WAITING: "Waiting",
    TriageState.ANSWERED: "Replied",
    TriageState.ACKNOWLEDGED: "Acknowledged without reply",
    TriageState.NO_RESPONSE_NEEDED: "No response needed",
    TriageState.CLOSED: "Closed",
}


class Rank(IntEnum):
    """The queue's order, most urgent first. Stored as numbers: append, never renumber."""

    HELP_NOW = 0
    CRISIS = 1
    TODAY = 2
    NEEDS_SUPPORT = 3  # a support-tier signal, a concern, a "when you can" request
    UNANSWERED = 4  # an ordinary journal entry nobody has answered yet
    NOTHING = 9  # a post with nothing that asks for a facilitator


RANK_LABELS = {
    Rank.HELP_NOW: "Asked for help now",
    Rank.CRISIS: "Crisis signal",
    Rank.TODAY: "Asked for support today",
    Rank.NEEDS_SUPPORT: "May need support",
    Rank.UNANSWERED: "Unanswered entry",
    Rank.NOTHING: "Nothing flagged",
}
# Ranks that count as "flagged" on the dashboard and for escalation.
FLAGGED_RANKS = (Rank.HELP_NOW, Rank.CRISIS, Rank.TODAY, Rank.NEEDS_SUPPORT)
URGENT_RANKS = (Rank.HELP_NOW, Rank.CRISIS)


class FacilitatorAssignment(Model):
    """A facilitator looks after a course: its queue items and its learners' journals."""

    __tablename__ = "facilitator_assignments"
    __table_args__ = (UniqueConstraint("user_id", "course_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()
    course: Mapped[Course] = relationship()


class SupportRequest(Model):
    """A learner asked for support on one of their own journal entries or public posts."""

    __tablename__ = "support_requests"
    __table_args__ = (Index("ix_support_requests_subject", "subject_type", "subject_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    subject_type: Mapped[SubjectType] = mapped_column(enum_type(SubjectType, 20))
    subject_id: Mapped[int]
    urgency: Mapped[Urgency] = mapped_column(enum_type(Urgency, 20))
    status: Mapped[RequestStatus] = mapped_column(
        enum_type(RequestStatus, 20), default=RequestStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    requester: Mapped[User] = relationship()


class SupportSignal(Model):
    """What the distress detector saw in one version of a text. It only orders the queue."""

    __tablename__ = "support_signals"
    __table_args__ = (Index("ix_support_signals_subject", "subject_type", "subject_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[SubjectType] = mapped_column(enum_type(SubjectType, 20))
    subject_id: Mapped[int]
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    tier: Mapped[Tier] = mapped_column(enum_type(Tier, 16))
    # A few short phrases, for the facilitator who opens the item; never shown in lists.
    matches: Mapped[list[Any]] = mapped_column(JSON, default=list)
    lexicon_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Concern(Model):
    """A peer is worried about the author of a public post. Facilitators only see it."""

    __tablename__ = "support_concerns"
    __table_args__ = (Index("ix_support_concerns_reporter_created", "reporter_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    subject_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ConcernStatus] = mapped_column(
        enum_type(ConcernStatus, 16), default=ConcernStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    reporter: Mapped[User] = relationship(foreign_keys=[reporter_id])


class QueueVersion(Model):
    """The data version of one course's part of the facilitators' queue.

    Bumped (``forum.support.services.touch_queue``) in the same transaction as every change
    the queue page shows: a triage row's rank, state, labels or claim, a learner's or a
    facilitator's name. The rendered queue is cached under these versions, so it is never
    stale. A course without a row is at version 0.
    """

    __tablename__ = "support_queue_versions"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id"), primary_key=True, autoincrement=False
    )
    version: Mapped[int] = mapped_column(default=0, server_default="0")


class TriageLabels:
    """The words a queue row shows for its rank and state (a triage item, or a queue row)."""

    __slots__ = ()
    rank: int
    state: TriageState

    @property
    def rank_label(self) -> str:
        return RANK_LABELS.get(Rank(self.rank), "")

    @property
    def state_label(self) -> str:
        return TRIAGE_STATE_LABELS[self.state]


class TriageItem(TriageLabels, Model):
    """One subject in the facilitators' queue, with everything the queue page orders by."""

    __tablename__ = "triage_items"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id"),
        # The queue: WAITING rows by rank, oldest first (optionally within one course).
        Index("ix_triage_items_queue", "state", "rank", "waiting_since", "id"),
        Index("ix_triage_items_course_queue", "course_id", "state", "rank", "waiting_since"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[SubjectType] = mapped_column(enum_type(SubjectType, 20))
    subject_id: Mapped[int]
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"), index=True)
    # The learner the item is about (the entry's or the post's author).
    person_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)

    state: Mapped[TriageState] = mapped_column(
        enum_type(TriageState, 20), default=TriageState.WAITING
    )
    rank: Mapped[int] = mapped_column(default=int(Rank.UNANSWERED))
    waiting_since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the rank is made of, for the neutral label.
    tier: Mapped[Tier] = mapped_column(enum_type(Tier, 16), default=Tier.NONE)
    urgency: Mapped[Urgency | None] = mapped_column(enum_type(Urgency, 20))
    open_concerns: Mapped[int] = mapped_column(default=0)
    # Ever ranked as flagged (for the dashboard's flagged / unflagged response times).
    flagged: Mapped[bool] = mapped_column(default=False)
    # The learner edited a journal entry after a facilitator replied.
    edited_since_reply: Mapped[bool] = mapped_column(default=False)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Since when the item is help-now or crisis (None otherwise): escalation counts from here.
    urgent_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by the escalation job when it has alerted the backup address about this item.
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[User] = relationship(foreign_keys=[person_id])
    module: Mapped[Module] = relationship()
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id])
    resolved_by: Mapped[User | None] = relationship(foreign_keys=[resolved_by_id])
