"""Reading the facilitators' queue and its dashboard. Nothing here writes.

The queue is one ordered, indexed, paginated query over ``triage_items``: the rows carry
their rank and waiting time, so the page runs the same statements for 10 items or 10,000.
Rows never carry writing: a label is the learner's name, the module and what flagged it.
The page is rendered once per data version (``queue_version``) and shared by the
facilitators of the same courses: see ``forum.support.listing``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import aliased

from forum.accounts.models import Role, User
from forum.courses.models import Course, Module
from forum.database import utcnow
from forum.extensions import db
from forum.service_errors import NotFound
from forum.support.detector import Tier
from forum.support.models import (
    RANK_LABELS,
    FacilitatorAssignment,
    QueueVersion,
    Rank,
    SubjectType,
    TriageItem,
    TriageLabels,
    TriageState,
    Urgency,
)
from forum.support.services import facilitated_course_ids

STATE_FILTERS = {
    "waiting": (TriageState.WAITING,),
    "answered": (TriageState.ANSWERED,),
    "acknowledged": (TriageState.ACKNOWLEDGED,),
    "no_response_needed": (TriageState.NO_RESPONSE_NEEDED,),
    "done": (
        TriageState.ANSWERED,
        TriageState.ACKNOWLEDGED,
        TriageState.NO_RESPONSE_NEEDED,
        TriageState.CLOSED,
    ),
}
STATE_FILTER_LABELS = {
    "waiting": "Waiting",
    "answered": "Replied",
    "acknowledged": "Acknowledged without reply",
    "no_response_needed": "No response needed",
    "done": "Everything dealt with",
}


@dataclass(frozen=True)
class QueueFilters:
    module_id: int | None = None
    state: str = "waiting"


@dataclass(frozen=True, slots=True)
class QueueRow(TriageLabels):
    """One row of the queue: only what the page shows, names included (no ORM objects)."""

    id: int
    subject_type: SubjectType
    subject_id: int
    state: TriageState
    rank: int
    waiting_since: datetime
    tier: Tier
    urgency: Urgency | None
    open_concerns: int
    edited_since_reply: bool
    claimed_by_id: int | None
    claimed_until: datetime | None
    person_name: str
    module_title: str
    claimer_name: str | None  # None when nobody claimed it

    @property
    def claim_shown(self) -> bool:
        """Whether the row says who claimed it (a waiting item with a claim on it)."""
        return (
            self.claimer_name is not None
            and self.claimed_until is not None
            and self.state == TriageState.WAITING
        )


@dataclass(frozen=True, slots=True)
class ModuleChoice:
    id: int
    title: str


@dataclass
class QueuePage:
    items: list[QueueRow]
    page: int
    pages: int
    total: int
    modules: list[ModuleChoice]
    filters: QueueFilters


def _check_facilitator(actor: User) -> None:
    if not actor.has_role(Role.FACILITATOR):
        raise NotFound("There is nothing here.")


def _scoped(query, actor: User):
    if actor.role == Role.ADMIN:
        return query
    return query.where(TriageItem.course_id.in_(facilitated_course_ids(actor)))


# The marks the rendered queue is personalised with (forum/support/listing.py) are control
# characters, which names and titles never hold (forum.text.clean_line); dropped here too,
# so no stored text can ever be read as one.
_NO_MARKS = str.maketrans("", "", "\x00\x01")


def _plain(text: str) -> str:
    return text.translate(_NO_MARKS)


_Person = aliased(User, name="person")
_Claimer = aliased(User, name="claimer")
_ROW_COLUMNS = (
    TriageItem.id,
    TriageItem.subject_type,
    TriageItem.subject_id,
    TriageItem.state,
    TriageItem.rank,
    TriageItem.waiting_since,
    TriageItem.tier,
    TriageItem.urgency,
    TriageItem.open_concerns,
    TriageItem.edited_since_reply,
    TriageItem.claimed_by_id,
    TriageItem.claimed_until,
    _Person.display_name,
    Module.title,
    _Claimer.display_name,
)


def _where(query, actor: User, filters: QueueFilters):
    query = query.where(
        TriageItem.state.in_(STATE_FILTERS[filters.state]),
        TriageItem.rank < int(Rank.NOTHING),
    )
    if filters.module_id is not None:
        query = query.where(TriageItem.module_id == filters.module_id)
    return _scoped(query, actor)


def _queue_row(row: Any) -> QueueRow:
    # In the order of _ROW_COLUMNS.
    (row_id, kind, subject_id, state, rank, since, tier, urgency, concerns, edited) = row[:10]
    holder_id, until, person, module, holder = row[10:]
    return QueueRow(
        id=row_id,
        subject_type=kind,
        subject_id=subject_id,
        state=state,
        rank=rank,
        waiting_since=since,
        tier=tier,
        urgency=urgency,
        open_concerns=concerns,
        edited_since_reply=edited,
        claimed_by_id=holder_id,
        claimed_until=until,
        person_name=_plain(person),
        module_title=_plain(module),
        claimer_name=None if holder is None else _plain(holder),
    )


def queue_page(actor: User, filters: QueueFilters, page: int) -> QueuePage:
    """One page of the actor's queue: help now, crisis, today, needs support, the rest.

    Three statements whatever the queue's length: the page's rows with the names they
    show (two joins to ``users`` for one column each, never whole user rows), the count,
    the modules for the filter.
    """
    _check_facilitator(actor)
    if page < 1 or filters.state not in STATE_FILTERS:
        raise NotFound("That page of the queue doesn't exist.")
    per_page = int(current_app.config["SUPPORT_QUEUE_PER_PAGE"])
    total = db.session.execute(
        _where(select(func.count(TriageItem.id)), actor, filters)
    ).scalar_one()
    pages = max(1, math.ceil(total / per_page))
    if page > pages:
        raise NotFound("That page of the queue doesn't exist.")
    query = (
        select(*_ROW_COLUMNS)
        .select_from(TriageItem)
        .join(_Person, _Person.id == TriageItem.person_id)
        .join(Module, Module.id == TriageItem.module_id)
        .outerjoin(_Claimer, _Claimer.id == TriageItem.claimed_by_id)
        # The required order, on ix_triage_items_queue (state, rank, waiting_since, id).
        .order_by(TriageItem.rank, TriageItem.waiting_since, TriageItem.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    items = [_queue_row(row) for row in db.session.execute(_where(query, actor, filters))]
    return QueuePage(
        items=items,
        page=page,
        pages=pages,
        total=total,
        modules=facilitated_modules(actor),
        filters=filters,
    )


def facilitated_modules(actor: User) -> list[ModuleChoice]:
    """The modules of the courses the actor facilitates (all for an admin), in course order."""
    query = select(Module.id, Module.title)
    if actor.role != Role.ADMIN:
        query = query.where(Module.course_id.in_(facilitated_course_ids(actor)))
    rows = db.session.execute(query.order_by(Module.course_id, Module.position)).tuples()
    return [ModuleChoice(module_id, _plain(title)) for module_id, title in rows]


# --- the queue's data version ----------------------------------------------------------------

_VERSIONS = (
    select(
        Course.id,
        Course.created_at,
        Course.version,
        func.coalesce(QueueVersion.version, 0),
    )
    .select_from(Course)
    .outerjoin(QueueVersion, QueueVersion.course_id == Course.id)
    .order_by(Course.id)
)
_MY_VERSIONS = _VERSIONS.where(
    Course.id.in_(
        select(FacilitatorAssignment.course_id).where(
            FacilitatorAssignment.user_id == bindparam("user_id")
        )
    )
)


def queue_version(actor: User) -> str:
    """The data version of everything the actor's queue shows, in one light statement.

    For each course the actor facilitates (every course for an admin): its version (titles
    of its modules) and its queue version (bumped with every change to its triage rows,
    their claims and the names they show). The set of courses is in it too, so two
    facilitators of the same courses share it and nobody shares another scope's.
    """
    _check_facilitator(actor)
    connection = db.session.connection()
    if actor.role == Role.ADMIN:
        rows = connection.execute(_VERSIONS)
    else:
        rows = connection.execute(_MY_VERSIONS, {"user_id": actor.id})
    # created_at: a database made afresh never shares cache entries with an older one.
    return "|".join(
        f"{course_id}.{created_at.timestamp()}.{version}.{queue}"
        for course_id, created_at, version, queue in rows
    )


def listing_key(version: str, filters: QueueFilters, page: int) -> str:
    """The cache key of one rendered page of the queue (see forum/support/listing.py)."""
    raw = f"{version}:{filters.module_id}:{filters.state}:{page}"
    return "support-queue:" + hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


def waited(item: TriageItem, now: datetime | None = None) -> str:
    """How long an item has waited, in words: '5 minutes', '3 hours', '2 days'."""
    return duration_words((now or utcnow()) - item.waiting_since)


def duration_words(delta: timedelta | None) -> str:
    """A duration in words: 'under a minute', '5 minutes', '3 hours', '2 days'."""
    if delta is None:
        return "none yet"
    return seconds_words(int(delta.total_seconds()))


def seconds_words(seconds: int) -> str:
    """``duration_words`` for a number of whole seconds (none below zero)."""
    seconds = max(0, seconds)
    if seconds < 60:
        return "under a minute"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "under a minute"  # pragma: no cover


# --- the dashboard -----------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    y: int
    width: int
    text_x: int


@dataclass
class ResponseTimes:
    label: str
    count: int
    median: timedelta | None
    p90: timedelta | None


@dataclass
class Dashboard:
    waiting: list[tuple[str, int]]
    bars: list[Bar]
    chart_height: int
    response: list[ResponseTimes] = field(default_factory=list)
    window_days: int = 90


CHART_BAR_HEIGHT = 28
CHART_GAP = 10
CHART_WIDTH = 320
CHART_LABEL_WIDTH = 0  # labels sit in their own column of the table beside the chart


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of ``values`` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def dashboard(actor: User, window_days: int = 90) -> Dashboard:
    """Waiting counts per tier and time to first response, flagged and unflagged."""
    if not actor.has_role(Role.FACILITATOR):
        raise NotFound("There is nothing here.")
    counts_query = (
        db.select(TriageItem.rank, func.count(TriageItem.id))
        .where(TriageItem.state == TriageState.WAITING, TriageItem.rank < int(Rank.NOTHING))
        .group_by(TriageItem.rank)
    )
    counts = dict(db.session.execute(_scoped(counts_query, actor)).tuples().all())
    waiting = [
        (RANK_LABELS[rank], int(counts.get(int(rank), 0))) for rank in Rank if rank != Rank.NOTHING
    ]
    top = max((count for _label, count in waiting), default=0) or 1
    bars = []
    for index, (label, count) in enumerate(waiting):
        width = round(CHART_WIDTH * count / top)
        bars.append(
            Bar(
                label=label,
                count=count,
                y=index * (CHART_BAR_HEIGHT + CHART_GAP),
                width=width,
                text_x=width + 6,
            )
        )
    since = utcnow() - timedelta(days=window_days)
    times_query = db.select(
        TriageItem.created_at, TriageItem.first_response_at, TriageItem.flagged
    ).where(TriageItem.first_response_at.is_not(None), TriageItem.created_at >= since)
    flagged: list[float] = []
    unflagged: list[float] = []
    for created_at, responded_at, was_flagged in db.session.execute(_scoped(times_query, actor)):
        seconds = (responded_at - created_at).total_seconds()
        (flagged if was_flagged else unflagged).append(seconds)
    response = [
        _times("Flagged (asked for support, or a signal or concern)", flagged),
        _times("Unflagged journal entries", unflagged),
    ]
    return Dashboard(
        waiting=waiting,
        bars=bars,
        chart_height=len(bars) * (CHART_BAR_HEIGHT + CHART_GAP),
        response=response,
        window_days=window_days,
    )


def _times(label: str, values: list[float]) -> ResponseTimes:
    median = percentile(values, 0.5)
    p90 = percentile(values, 0.9)
    return ResponseTimes(
        label=label,
        count=len(values),
        median=None if median is None else timedelta(seconds=median),
        p90=None if p90 is None else timedelta(seconds=p90),
    )
