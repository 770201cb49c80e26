"""Reading the facilitators' queue and its dashboard. Nothing here writes.

The queue is one ordered, indexed, paginated query over ``triage_items``: the rows carry
their rank and waiting time, so the page runs the same statements for 10 items or 10,000.
Rows never carry writing: a label is the learner's name, the module and what flagged it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func
from sqlalchemy.orm import joinedload, load_only

from forum.accounts.models import Role, User
from forum.courses.models import Module
from forum.database import utcnow
from forum.extensions import db
from forum.service_errors import NotFound
from forum.support.models import (
    RANK_LABELS,
    Rank,
    TriageItem,
    TriageState,
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


@dataclass
class QueuePage:
    items: list[TriageItem]
    page: int
    pages: int
    total: int
    modules: list[Module]
    filters: QueueFilters


def _scoped(query, actor: User):
    if actor.role == Role.ADMIN:
        return query
    return query.where(TriageItem.course_id.in_(facilitated_course_ids(actor)))


def queue_page(actor: User, filters: QueueFilters, page: int) -> QueuePage:
    """One page of the actor's queue: help now, crisis, today, needs support, the rest."""
    if not actor.has_role(Role.FACILITATOR):
        raise NotFound("There is nothing here.")
    if page < 1 or filters.state not in STATE_FILTERS:
        raise NotFound("That page of the queue doesn't exist.")
    names = load_only(User.id, User.display_name)
    query = (
        db.select(TriageItem)
        .options(
            joinedload(TriageItem.person).options(names),
            joinedload(TriageItem.claimed_by).options(names),
            joinedload(TriageItem.module).options(load_only(Module.id, Module.title)),
        )
        .where(
            TriageItem.state.in_(STATE_FILTERS[filters.state]),
            TriageItem.rank < int(Rank.NOTHING),
        )
        .order_by(TriageItem.rank, TriageItem.waiting_since, TriageItem.id)
    )
    if filters.module_id is not None:
        query = query.where(TriageItem.module_id == filters.module_id)
    query = _scoped(query, actor)
    per_page = int(current_app.config["SUPPORT_QUEUE_PER_PAGE"])
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    pages = max(1, pagination.pages)
    if page > pages:
        raise NotFound("That page of the queue doesn't exist.")
    return QueuePage(
        items=list(pagination.items),
        page=page,
        pages=pages,
        total=pagination.total or 0,
        modules=facilitated_modules(actor),
        filters=filters,
    )


def facilitated_modules(actor: User) -> list[Module]:
    query = db.select(Module).options(load_only(Module.id, Module.title, Module.course_id))
    if actor.role != Role.ADMIN:
        query = query.where(Module.course_id.in_(facilitated_course_ids(actor)))
    return list(db.session.execute(query.order_by(Module.course_id, Module.position)).scalars())


def waited(item: TriageItem, now: datetime | None = None) -> str:
    """How long an item has waited, in words: '5 minutes', '3 hours', '2 days'."""
    return duration_words((now or utcnow()) - item.waiting_since)


def duration_words(delta: timedelta | None) -> str:
    if delta is None:
        return "none yet"
    seconds = max(0, int(delta.total_seconds()))
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
