"""Email for the support path: alerts to facilitators, escalations, and "you have a reply".

Listens to the core's support signals (``support_requested``, ``crisis_signal_detected``,
``journal_replied``) and registers one periodic job, the escalation check. Private
writing never leaves the site: every message here says only that something happened and
links to the page where the reader, once logged in and allowed, can see it. The journal
text, the reply, the matched phrases and a concern's note are never put in an email.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select

from forum import signals
from forum.accounts.models import Role, User
from forum.extensions import db
from forum.support import services as support
from forum.support.models import FacilitatorAssignment, TriageItem, Urgency
from notifications.emails import link
from notifications.jobs import JobContext, register_job
from notifications.outbox import queue_account_email, queue_staff_alert

log = logging.getLogger(__name__)

ESCALATION_JOB = "support_escalations"


def course_facilitators(course_id: int) -> list[User]:
    """The facilitators assigned to a course; its admins when nobody is assigned."""
    people = list(
        db.session.execute(
            select(User)
            .join(FacilitatorAssignment, FacilitatorAssignment.user_id == User.id)
            .where(FacilitatorAssignment.course_id == course_id)
            .where(User.role.in_([Role.FACILITATOR, Role.ADMIN]))
            .order_by(User.id)
        ).scalars()
    )
    if people:
        return people
    # Nobody looks after this course yet: someone must still hear about a crisis.
    return list(
        db.session.execute(select(User).where(User.role == Role.ADMIN).order_by(User.id)).scalars()
    )


def _item_for(subject: Any) -> TriageItem | None:
    return support.item_for(support.subject_type_of(subject), subject.id)


def _alert_facilitators(item: TriageItem, why: str, key: str) -> int:
    """One staff alert per facilitator of the item's course; returns how many."""
    url = link("support.item", item_id=item.id)
    site = current_app.config["SITE_NAME"]
    queued = 0
    for person in course_facilitators(item.course_id):
        message = (
            f"{why}\n\nThe support queue puts it at the top. The text is not in this email: "
            "open the link and log in to read it."
        )
        if queue_staff_alert(
            person,
            f"{site}: someone may need support now",
            message,
            url,
            dedupe_key=f"{key}:to:{person.id}",
        ):
            queued += 1
    return queued


def on_support_requested(app: Flask, request: Any, urgency: Any, subject: Any, **_: Any) -> None:
    """A help-now request alerts the course's facilitators at once; others wait in the queue."""
    if Urgency(urgency) != Urgency.NOW:
        return
    item = _item_for(subject)
    if item is None:
        log.warning("support request %s has no queue item; no alert sent", request.id)
        return
    _alert_facilitators(
        item,
        "A learner asked for help now.",
        f"support-request:{request.id}:now",
    )


def on_crisis_signal_detected(app: Flask, signal: Any, subject: Any, **_: Any) -> None:
    """A crisis-tier signal alerts the course's facilitators (never with the words matched)."""
    item = _item_for(subject)
    if item is None:
        log.warning("crisis signal %s has no queue item; no alert sent", signal.id)
        return
    _alert_facilitators(
        item,
        "Something a learner wrote may be a sign of crisis.",
        f"support-signal:{signal.id}:crisis",
    )


def on_journal_replied(app: Flask, entry: Any, reply: Any, actor: Any, **_: Any) -> None:
    """Tell the learner there is a reply, with a link and without its text."""
    author = db.session.get(User, entry.author_id)
    if author is None or author.id == actor.id:
        return
    queue_account_email(
        author,
        "journal_replied",
        f"A facilitator replied to your journal on {current_app.config['SITE_NAME']}",
        dedupe_key=f"journal-reply:{reply.id}",
        url=link("journals.entry", entry_id=entry.id),
    )


def escalate_overdue(context: JobContext) -> int:
    """Alert the backup address about help-now and crisis items nobody has answered in time."""
    backup = current_app.config.get("SUPPORT_BACKUP_ADDRESS")
    minutes = int(current_app.config["SUPPORT_ESCALATE_AFTER_MINUTES"])
    escalated = 0
    for item in support.overdue_urgent_items(context.now):
        recipients: list[User | str] = [backup] if backup else []
        if not recipients:
            # No backup configured: every admin hears of it rather than nobody.
            recipients = list(
                db.session.execute(select(User).where(User.role == Role.ADMIN)).scalars()
            )
        for index, recipient in enumerate(recipients):
            queue_staff_alert(
                recipient,
                f"{current_app.config['SITE_NAME']}: an urgent support item is still waiting",
                f"A learner who may need help now has waited more than {minutes} minutes "
                "without a response from a facilitator. The text is not in this email: open "
                "the link and log in to read it.",
                link("support.item", item_id=item.id),
                dedupe_key=f"support-escalation:{item.id}:{index}",
            )
        support.mark_alerted(item, context.now)
        escalated += 1
    return escalated


def connect(app: Flask) -> None:
    """Listen to the support signals and register the escalation check (every minute)."""
    pairs = [
        (signals.support_requested, on_support_requested),
        (signals.crisis_signal_detected, on_crisis_signal_detected),
        (signals.journal_replied, on_journal_replied),
    ]
    for signal, receiver in pairs:
        signal.connect(receiver, sender=app, weak=False)  # type: ignore[type-var]
    register_job(ESCALATION_JOB, escalate_overdue, 60, priority=20, app=app)
