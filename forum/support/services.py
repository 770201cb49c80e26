"""Support: facilitators' courses, requests for support, detector signals, peers' concerns
and the triage rows that order the queue. Services flush; the request or command commits.

Every change that can move an item in the queue goes through :func:`_refresh`, which
recomputes the item's denormalised ``rank`` from what is open on it, so the queue page
is one indexed query (see ``forum.support.queue``). Every change the queue page shows
also bumps the course's queue version (:func:`touch_queue`) in the same transaction: the
rendered queue is cached under it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, cast

from flask import Flask, current_app, has_request_context, session
from flask_login import current_user
from sqlalchemy import Table, delete, func
from sqlalchemy.dialects import postgresql, sqlite

from forum.accounts.models import Role, User
from forum.claims import claim, release
from forum.courses.models import Course
from forum.database import utcnow
from forum.extensions import db
from forum.journals.models import JournalEntry
from forum.service_errors import Conflict, NotFound, PermissionDenied, ServiceError
from forum.signals import (
    concern_raised,
    crisis_signal_detected,
    display_name_changed,
    post_created,
    post_edited,
    sender,
    support_requested,
)
from forum.support.detector import Signal, Tier, detect
from forum.support.models import (
    FLAGGED_RANKS,
    URGENCY_ORDER,
    URGENT_RANKS,
    Concern,
    ConcernStatus,
    FacilitatorAssignment,
    QueueVersion,
    Rank,
    RequestStatus,
    SubjectType,
    SupportRequest,
    SupportSignal,
    TriageItem,
    TriageState,
    Urgency,
)
from forum.text import clean_multiline
from forum.threads.models import Post, PostStatus

log = logging.getLogger(__name__)

CONCERN_NOTE_MAX_CHARS = 1000
# The session key that asks the next page to show the support panel ("crisis" or "now").
PANEL_KEY = "hearth_support_panel"

Subject = JournalEntry | Post


# --- who facilitates what ----------------------------------------------------------------


def facilitated_course_ids(user: User):
    """A select of the course ids ``user`` facilitates (for ``IN`` clauses)."""
    return db.select(FacilitatorAssignment.course_id).where(
        FacilitatorAssignment.user_id == user.id
    )


def can_facilitate(user: Any, course_id: int) -> bool:
    """Whether ``user`` may read this course's journals and work its queue items."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role != Role.FACILITATOR:
        return False
    found = db.session.execute(
        db.select(FacilitatorAssignment.id).where(
            FacilitatorAssignment.user_id == user.id,
            FacilitatorAssignment.course_id == course_id,
        )
    ).first()
    return found is not None


def _check_admin(actor: User | None) -> None:
    if actor is not None and not actor.has_role(Role.ADMIN):
        raise PermissionDenied("Only an admin can change who facilitates a course.")


def assign_facilitator(actor: User | None, user: User, course: Course) -> FacilitatorAssignment:
    """Make ``user`` (a facilitator or admin) a facilitator of ``course``; twice is once."""
    _check_admin(actor)
    if not user.has_role(Role.FACILITATOR):
        raise ServiceError(
            f"{user.email} is a {user.role.value}; give them the facilitator role first.",
            field="email",
        )
    existing = db.session.execute(
        db.select(FacilitatorAssignment).filter_by(user_id=user.id, course_id=course.id)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    assignment = FacilitatorAssignment(user_id=user.id, course_id=course.id, created_at=utcnow())
    db.session.add(assignment)
    db.session.flush()
    _audit(actor, "support.facilitator_assigned", assignment, user_id=user.id, course=course.slug)
    return assignment


def unassign_facilitator(actor: User | None, user: User, course: Course) -> bool:
    """Stop ``user`` facilitating ``course``; False if they didn't."""
    _check_admin(actor)
    assignment = db.session.execute(
        db.select(FacilitatorAssignment).filter_by(user_id=user.id, course_id=course.id)
    ).scalar_one_or_none()
    if assignment is None:
        return False
    _audit(actor, "support.facilitator_unassigned", assignment, user_id=user.id, course=course.slug)
    db.session.delete(assignment)
    db.session.flush()
    return True


def _user_and_course(email: str, course_slug: str) -> tuple[User, Course]:
    from forum.accounts.services import get_user_by_email

    user = get_user_by_email(email or "")
    if user is None:
        raise ServiceError("There is no account with that email address.", field="email")
    course = db.session.execute(
        db.select(Course).filter_by(slug=course_slug or "")
    ).scalar_one_or_none()
    if course is None:
        raise ServiceError("There is no course with that name.", field="course")
    return user, course


def assign_by_email(actor: User | None, email: str, course_slug: str) -> FacilitatorAssignment:
    """``assign_facilitator`` for an email address and a course slug (admin page, CLI)."""
    user, course = _user_and_course(email, course_slug)
    return assign_facilitator(actor, user, course)


def unassign_by_email(actor: User | None, email: str, course_slug: str) -> bool:
    user, course = _user_and_course(email, course_slug)
    return unassign_facilitator(actor, user, course)


def unassign_by_id(actor: User | None, assignment_id: int) -> bool:
    _check_admin(actor)
    assignment = db.session.get(FacilitatorAssignment, assignment_id)
    if assignment is None:
        raise NotFound("That assignment no longer exists.")
    return unassign_facilitator(actor, assignment.user, assignment.course)


def list_assignments() -> list[FacilitatorAssignment]:
    from sqlalchemy.orm import joinedload

    query = (
        db.select(FacilitatorAssignment)
        .options(joinedload(FacilitatorAssignment.user), joinedload(FacilitatorAssignment.course))
        .order_by(FacilitatorAssignment.course_id, FacilitatorAssignment.user_id)
    )
    return list(db.session.execute(query).scalars())


def _audit(actor: User | None, action: str, subject: Any, **details: Any) -> None:
    from forum import audit

    audit.record(actor, action, subject, **details)


# --- the queue's data versions -----------------------------------------------------------


def touch_queue(*course_ids: int) -> None:
    """Bump these courses' queue versions: their cached queue pages are never served again.

    Called in the same transaction as every change the queue shows. An upsert, as a
    course has no version row until its queue first changes.
    """
    if not course_ids:
        return
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, QueueVersion.__table__)
    statement = insert(table).on_conflict_do_update(
        index_elements=[table.c.course_id], set_={"version": table.c.version + 1}
    )
    db.session.execute(statement, [{"course_id": c, "version": 1} for c in sorted(course_ids)])


def _on_display_name_changed(_app: Flask, user: User, **_extra: Any) -> None:
    # A learner's or a facilitator's name is in every queue row about or claimed by them;
    # a rename is rare, so every course's queue starts afresh.
    touch_queue(*db.session.execute(db.select(Course.id)).scalars())


# --- triage rows -------------------------------------------------------------------------


def subject_type_of(subject: Subject) -> SubjectType:
    return SubjectType.JOURNAL_ENTRY if isinstance(subject, JournalEntry) else SubjectType.POST


def _placement(subject: Subject) -> tuple[int, int, int]:
    """(course id, module id, person id) of a subject."""
    if isinstance(subject, JournalEntry):
        return subject.course_id, subject.module_id, subject.author_id
    module = subject.prompt.module
    return module.course_id, module.id, subject.author_id


def item_for(subject_type: SubjectType, subject_id: int) -> TriageItem | None:
    return db.session.execute(
        db.select(TriageItem).filter_by(subject_type=subject_type, subject_id=subject_id)
    ).scalar_one_or_none()


def _ensure_item(subject: Subject, now: datetime) -> TriageItem:
    kind = subject_type_of(subject)
    item = item_for(kind, subject.id)
    if item is not None:
        return item
    course_id, module_id, person_id = _placement(subject)
    item = TriageItem(
        subject_type=kind,
        subject_id=subject.id,
        course_id=course_id,
        module_id=module_id,
        person_id=person_id,
        state=TriageState.WAITING,
        rank=int(Rank.NOTHING),
        tier=Tier.NONE,
        open_concerns=0,
        flagged=False,
        edited_since_reply=False,
        waiting_since=now,
        created_at=now,
        updated_at=now,
    )
    db.session.add(item)
    db.session.flush()
    return item


def _compute_rank(item: TriageItem) -> Rank:
    if item.urgency == Urgency.NOW:
        return Rank.HELP_NOW
    if item.tier == Tier.CRISIS:
        return Rank.CRISIS
    if item.urgency == Urgency.TODAY:
        return Rank.TODAY
    if item.tier == Tier.SUPPORT or item.open_concerns or item.urgency == Urgency.WHEN_YOU_CAN:
        return Rank.NEEDS_SUPPORT
    if item.subject_type == SubjectType.JOURNAL_ENTRY:
        return Rank.UNANSWERED
    return Rank.NOTHING


def _reopen(item: TriageItem, now: datetime) -> None:
    """Put an item back in the queue (new writing, a request, a concern)."""
    if item.state != TriageState.WAITING:
        item.state = TriageState.WAITING
        item.waiting_since = now
        item.resolved_at = None
        item.resolved_by_id = None


def _refresh(item: TriageItem, now: datetime) -> None:
    """Recompute rank and the escalation clock from what is open on the item."""
    rank = _compute_rank(item)
    item.rank = int(rank)
    if rank in FLAGGED_RANKS:
        item.flagged = True
    if item.state == TriageState.WAITING and rank in URGENT_RANKS:
        if item.urgent_since is None:
            item.urgent_since = now
            item.alerted_at = None
    else:
        item.urgent_since = None
    if item.state == TriageState.WAITING and rank == Rank.NOTHING:
        # A post nobody needs to look at any more (its only request was withdrawn).
        item.state = TriageState.CLOSED
        item.resolved_at = now
    item.updated_at = now
    db.session.flush()
    touch_queue(item.course_id)


def _open_urgency(subject_type: SubjectType, subject_id: int) -> Urgency | None:
    urgencies = db.session.execute(
        db.select(SupportRequest.urgency).where(
            SupportRequest.subject_type == subject_type,
            SupportRequest.subject_id == subject_id,
            SupportRequest.status == RequestStatus.OPEN,
        )
    ).scalars()
    best = max(urgencies, key=lambda u: URGENCY_ORDER[u], default=None)
    return best


# --- the detector ------------------------------------------------------------------------


def _detect(text: str) -> Signal | None:
    try:
        return detect(text)
    except Exception:  # the detector only orders the queue: never let it stop writing
        log.exception("distress detector failed; the text is stored without a signal")
        return None


def note_text(
    subject: Subject, text: str, now: datetime | None = None, *, is_new: bool = False
) -> SupportSignal | None:
    """Run the detector on a subject's (new) text, store the signal, order the queue.

    Never hides, delays or changes anything. For a public post a signal is stored only
    when it flags something or the post is already in the queue; a journal entry always
    has one per version. Sends ``crisis_signal_detected`` for a crisis-tier text.
    """
    now = now or utcnow()
    result = _detect(text)
    if result is None:
        return None
    kind = subject_type_of(subject)
    if kind == SubjectType.POST and result.tier == Tier.NONE and is_new:
        return None  # an ordinary new post: nothing to store, no statement run
    item = item_for(kind, subject.id)
    if kind == SubjectType.POST and result.tier == Tier.NONE and item is None:
        return None
    stored = SupportSignal(
        subject_type=kind,
        subject_id=subject.id,
        author_id=subject.author_id,
        tier=result.tier,
        matches=list(result.matches),
        lexicon_version=result.lexicon_version,
        created_at=now,
    )
    db.session.add(stored)
    if item is None:
        item = _ensure_item(subject, now)
    before = _compute_rank(item)
    item.tier = result.tier
    if kind == SubjectType.POST and _compute_rank(item) < before:
        _reopen(item, now)  # a post's words became more worrying: look again
    _refresh(item, now)
    if result.tier == Tier.CRISIS:
        crisis_signal_detected.send(sender(), signal=stored, subject=subject, author=subject.author)
    return stored


def offer_panel(person: User, kind: str) -> None:
    """Ask the next page ``person`` sees to start with the support panel.

    Only in a request made by ``person`` (a signal sent from the command line or for
    someone else's writing shows nothing). The panel is shown once: see support views.
    """
    if not has_request_context():
        return
    if not current_user.is_authenticated or current_user.id != person.id:
        return
    if session.get(PANEL_KEY) != "now":  # help-now outranks a crisis signal
        session[PANEL_KEY] = kind


# --- journal entries (called by forum.journals.services) ----------------------------------


def entry_written(entry: JournalEntry, now: datetime) -> SupportSignal | None:
    """A new entry: it waits in the queue, ordered by what the detector saw."""
    item = _ensure_item(entry, now)
    item.waiting_since = now
    return note_text(entry, entry.body_source, now)


def entry_edited(entry: JournalEntry, now: datetime) -> SupportSignal | None:
    """The learner changed an entry: back in the queue if it had been dealt with."""
    item = _ensure_item(entry, now)
    if item.state != TriageState.WAITING:
        _reopen(item, now)
    item.edited_since_reply = entry.edited_since_reply
    # Shown in the queue even when the detector fails below and nothing refreshes the item.
    touch_queue(item.course_id)
    return note_text(entry, entry.body_source, now)


def learner_answered(entry: JournalEntry, now: datetime) -> None:
    """The learner wrote under a facilitator's reply: their turn is over, ours begins."""
    item = _ensure_item(entry, now)
    _reopen(item, now)
    _refresh(item, now)


def entry_withdrawn(actor: User, entry: JournalEntry, now: datetime) -> None:
    """The learner withdrew an entry: it leaves the queue, its signals and requests go."""
    db.session.execute(
        delete(SupportSignal)
        .where(
            SupportSignal.subject_type == SubjectType.JOURNAL_ENTRY,
            SupportSignal.subject_id == entry.id,
        )
        .execution_options(synchronize_session=False)
    )
    for request in _open_requests(SubjectType.JOURNAL_ENTRY, entry.id):
        request.status = RequestStatus.WITHDRAWN
        request.closed_at = now
    item = item_for(SubjectType.JOURNAL_ENTRY, entry.id)
    if item is not None:
        item.state = TriageState.CLOSED
        item.resolved_at = now
        item.resolved_by_id = actor.id
        item.urgency = None
        item.tier = Tier.NONE
        item.claimed_by_id = None
        item.claimed_until = None
        _refresh(item, now)


def staff_replied(actor: User, entry: JournalEntry, now: datetime) -> None:
    """A facilitator replied to an entry: the item is answered."""
    item = _ensure_item(entry, now)
    _resolve(actor, item, TriageState.ANSWERED, now)


def latest_signal(subject_type: SubjectType, subject_id: int) -> SupportSignal | None:
    return db.session.execute(
        db.select(SupportSignal)
        .filter_by(subject_type=subject_type, subject_id=subject_id)
        .order_by(SupportSignal.id.desc())
        .limit(1)
    ).scalar_one_or_none()


# --- public posts (the core's own signals) -----------------------------------------------


def _on_post_written(post: Post, is_new: bool) -> None:
    # Never a Hold: the detector orders the queue and does nothing else to the post.
    signal = note_text(post, post.body_source, is_new=is_new)
    if signal is not None and signal.tier == Tier.CRISIS:
        offer_panel(post.author, "crisis")


def _on_post_created(_app: Flask, post: Post, **_extra: Any) -> None:
    _on_post_written(post, is_new=True)


def _on_post_edited(_app: Flask, post: Post, **_extra: Any) -> None:
    _on_post_written(post, is_new=False)


def connect(app: Flask) -> None:
    """Listen to the core's post signals for this app only (tests build many apps)."""
    post_created.connect(_on_post_created, sender=app, weak=False)
    post_edited.connect(_on_post_edited, sender=app, weak=False)
    display_name_changed.connect(_on_display_name_changed, sender=app, weak=False)


# --- asking for support ------------------------------------------------------------------


def _open_requests(subject_type: SubjectType, subject_id: int) -> list[SupportRequest]:
    return list(
        db.session.execute(
            db.select(SupportRequest).where(
                SupportRequest.subject_type == subject_type,
                SupportRequest.subject_id == subject_id,
                SupportRequest.status == RequestStatus.OPEN,
            )
        ).scalars()
    )


def open_request_for(subject: Subject) -> SupportRequest | None:
    """The subject's open request, if its author has one."""
    requests = _open_requests(subject_type_of(subject), subject.id)
    return max(requests, key=lambda r: URGENCY_ORDER[r.urgency], default=None)


def check_can_request(actor: User, subject: Subject) -> None:
    """NotFound unless ``actor`` wrote ``subject`` and it is still there."""
    _check_subject_author(actor, subject)


def _check_subject_author(actor: User, subject: Subject) -> None:
    if not actor.is_authenticated or subject.author_id != actor.id:
        raise NotFound("There is nothing here.")
    if isinstance(subject, JournalEntry) and not subject.is_active:
        raise NotFound("This entry was withdrawn.")
    if isinstance(subject, Post) and subject.status in (PostStatus.DELETED, PostStatus.REMOVED):
        raise NotFound("This post is no longer here.")


def request_support(actor: User, subject: Subject, urgency: str) -> SupportRequest:
    """The author of an entry or post asks a facilitator for support.

    One open request per subject: asking again changes its urgency. ``now`` puts the item
    at the top of the queue.
    """
    _check_subject_author(actor, subject)
    try:
        wanted = Urgency(urgency)
    except ValueError:
        raise ServiceError(
            "Please choose how soon you'd like to hear from someone.", "urgency"
        ) from None
    now = utcnow()
    request = open_request_for(subject)
    if request is None:
        request = SupportRequest(
            requester_id=actor.id,
            subject_type=subject_type_of(subject),
            subject_id=subject.id,
            urgency=wanted,
            status=RequestStatus.OPEN,
            created_at=now,
        )
        db.session.add(request)
    else:
        request.urgency = wanted
    db.session.flush()
    item = _ensure_item(subject, now)
    _reopen(item, now)
    item.urgency = _open_urgency(item.subject_type, item.subject_id)
    _refresh(item, now)
    support_requested.send(sender(), request=request, urgency=wanted, subject=subject)
    return request


def get_own_request(actor: User, request_id: int) -> SupportRequest:
    request = db.session.get(SupportRequest, request_id)
    if request is None or not actor.is_authenticated or request.requester_id != actor.id:
        raise NotFound("There is nothing here.")
    return request


def withdraw_request(actor: User, request: SupportRequest) -> SupportRequest:
    """The learner no longer needs the support they asked for."""
    if not actor.is_authenticated or request.requester_id != actor.id:
        raise NotFound("There is nothing here.")
    if request.status != RequestStatus.OPEN:
        return request
    now = utcnow()
    request.status = RequestStatus.WITHDRAWN
    request.closed_at = now
    db.session.flush()
    item = item_for(request.subject_type, request.subject_id)
    if item is not None and item.state == TriageState.WAITING:
        item.urgency = _open_urgency(item.subject_type, item.subject_id)
        _refresh(item, now)
    return request


def request_subject(request: SupportRequest) -> Subject | None:
    if request.subject_type == SubjectType.JOURNAL_ENTRY:
        return db.session.get(JournalEntry, request.subject_id)
    return db.session.get(Post, request.subject_id)


# --- concerns from peers -----------------------------------------------------------------


def check_can_raise_concern(actor: User, post: Post) -> None:
    """NotFound unless ``actor`` may say they are worried about ``post``'s author."""
    if not actor.is_authenticated or post.status != PostStatus.VISIBLE:
        raise NotFound("This post is no longer here.")
    if post.author_id == actor.id:
        raise NotFound("This is your own post: you can ask for support on it instead.")


def raise_concern(actor: User, post: Post, note: str | None) -> Concern:
    """A participant is worried about a post's author: only facilitators will know.

    Limited per reporter (``SUPPORT_CONCERNS_PER_DAY`` in 24 hours) and one open concern
    per reporter per post. Nothing is sent to the author, to moderators or to readers.
    """
    check_can_raise_concern(actor, post)
    text = clean_multiline(note).strip()
    if len(text) > CONCERN_NOTE_MAX_CHARS:
        raise ServiceError(
            f"Please keep the note under {CONCERN_NOTE_MAX_CHARS:,} characters.", field="note"
        )
    now = utcnow()
    already = db.session.execute(
        db.select(Concern.id).where(
            Concern.reporter_id == actor.id,
            Concern.post_id == post.id,
            Concern.status == ConcernStatus.OPEN,
        )
    ).first()
    if already is not None:
        raise ServiceError(
            "You've already told the facilitators about this post. Thank you: they will look.",
            field="note",
        )
    limit = int(current_app.config["SUPPORT_CONCERNS_PER_DAY"])
    recent = db.session.execute(
        db.select(func.count(Concern.id)).where(
            Concern.reporter_id == actor.id, Concern.created_at > now - timedelta(days=1)
        )
    ).scalar_one()
    if recent >= limit:
        raise ServiceError(
            "You've raised several concerns today, which is the most we take from one "
            "person in a day. If someone is in danger, please contact "
            f"{current_app.config['FACILITATOR_CONTACT']} or emergency services.",
            field="note",
        )
    concern = Concern(
        reporter_id=actor.id,
        post_id=post.id,
        subject_user_id=post.author_id,
        note=text,
        status=ConcernStatus.OPEN,
        created_at=now,
    )
    db.session.add(concern)
    db.session.flush()
    item = _ensure_item(post, now)
    _reopen(item, now)
    item.open_concerns = _open_concern_count(post.id)
    _refresh(item, now)
    concern_raised.send(sender(), concern=concern)
    return concern


def _open_concern_count(post_id: int) -> int:
    return db.session.execute(
        db.select(func.count(Concern.id)).where(
            Concern.post_id == post_id, Concern.status == ConcernStatus.OPEN
        )
    ).scalar_one()


def concerns_for(item: TriageItem) -> list[Concern]:
    """The concerns about a post item, newest first (for its facilitators)."""
    if item.subject_type != SubjectType.POST:
        return []
    from sqlalchemy.orm import joinedload

    return list(
        db.session.execute(
            db.select(Concern)
            .options(joinedload(Concern.reporter))
            .where(Concern.post_id == item.subject_id)
            .order_by(Concern.id.desc())
        ).scalars()
    )


# --- working the queue -------------------------------------------------------------------


def get_item(actor: User, item_id: int) -> TriageItem:
    """A queue item the actor facilitates; NotFound for everyone else."""
    item = db.session.get(TriageItem, item_id)
    if item is None or not can_facilitate(actor, item.course_id):
        raise NotFound("There is nothing here.")
    return item


def _lease() -> timedelta:
    return timedelta(minutes=int(current_app.config["SUPPORT_CLAIM_MINUTES"]))


def claim_item(actor: User, item: TriageItem, now: datetime | None = None) -> TriageItem:
    """Take an item so other facilitators see who is on it; Conflict if someone else is."""
    if not can_facilitate(actor, item.course_id):
        raise NotFound("There is nothing here.")
    won = claim(
        TriageItem,
        item.id,
        actor.id,
        _lease(),
        holder_column="claimed_by_id",
        until_column="claimed_until",
        where=[TriageItem.state == TriageState.WAITING],
        now=now,
    )
    if not won:
        db.session.refresh(item)
        if item.state != TriageState.WAITING:
            raise Conflict("Someone has already dealt with this item.")
        holder = db.session.get(User, item.claimed_by_id) if item.claimed_by_id else None
        name = holder.display_name if holder else "Another facilitator"
        raise Conflict(f"{name} is already looking after this.")
    touch_queue(item.course_id)
    return item


def release_item(actor: User, item: TriageItem) -> TriageItem:
    """Let go of an item the actor claimed, so anyone can take it at once."""
    if not can_facilitate(actor, item.course_id):
        raise NotFound("There is nothing here.")
    released = release(
        TriageItem, item.id, actor.id, holder_column="claimed_by_id", until_column="claimed_until"
    )
    if released:
        touch_queue(item.course_id)
    return item


RESOLUTIONS = {
    "acknowledged": TriageState.ACKNOWLEDGED,
    "no_response_needed": TriageState.NO_RESPONSE_NEEDED,
}


def resolve_item(actor: User, item: TriageItem, resolution: str) -> TriageItem:
    """Mark an item acknowledged without reply, or as needing no response."""
    if not can_facilitate(actor, item.course_id):
        raise NotFound("There is nothing here.")
    state = RESOLUTIONS.get(resolution)
    if state is None:
        raise ServiceError("Please choose what happened with this item.")
    if item.state != TriageState.WAITING:
        raise Conflict("This item was already dealt with.")
    _resolve(actor, item, state, utcnow())
    return item


def _resolve(actor: User, item: TriageItem, state: TriageState, now: datetime) -> None:
    item.state = state
    item.resolved_at = now
    item.resolved_by_id = actor.id
    if item.first_response_at is None:
        item.first_response_at = now
    item.claimed_by_id = None
    item.claimed_until = None
    item.edited_since_reply = False
    for request in _open_requests(item.subject_type, item.subject_id):
        request.status = RequestStatus.ANSWERED
        request.closed_at = now
    item.urgency = None
    if item.subject_type == SubjectType.POST:
        db.session.execute(
            db.update(Concern)
            .where(Concern.post_id == item.subject_id, Concern.status == ConcernStatus.OPEN)
            .values(status=ConcernStatus.CLOSED)
            .execution_options(synchronize_session=False)
        )
    item.open_concerns = 0
    _refresh(item, now)


# --- escalation (for the notifications worker) --------------------------------------------


def overdue_urgent_items(now: datetime | None = None, limit: int = 100) -> list[TriageItem]:
    """Help-now and crisis items waiting longer than ``SUPPORT_ESCALATE_AFTER_MINUTES``
    without a response and not yet alerted about, oldest first."""
    now = now or utcnow()
    after = timedelta(minutes=int(current_app.config["SUPPORT_ESCALATE_AFTER_MINUTES"]))
    query = (
        db.select(TriageItem)
        .where(
            TriageItem.state == TriageState.WAITING,
            TriageItem.rank.in_([int(r) for r in URGENT_RANKS]),
            TriageItem.urgent_since.is_not(None),
            TriageItem.urgent_since <= now - after,
            TriageItem.alerted_at.is_(None),
        )
        .order_by(TriageItem.urgent_since, TriageItem.id)
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def mark_alerted(item: TriageItem, now: datetime | None = None) -> None:
    """Note that the escalation job has alerted someone about ``item``."""
    item.alerted_at = now or utcnow()
    db.session.flush()
