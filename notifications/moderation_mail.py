"""Telling people about moderators' decisions by email.

Moderation sends its own signals (``moderation.signals``) and never imports
notifications; this module listens. Each receiver writes one outbox event in the
decision's transaction; the worker renders and queues the mail when it handles it, so a
decision that rolls back tells no one.

- The author is told what happened to their post (or account) and why. Never who flagged.
- Each reporter is told whether action was taken on what they flagged, nothing more.
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app

from forum.accounts.models import User
from forum.extensions import db
from moderation.models import Action, AppealState
from moderation.signals import appeal_decided, moderation_decided, sanction_applied
from notifications.emails import link, render_email
from notifications.events import EventBatch, queue_event, register_event_kind
from notifications.models import Category, NotificationEvent
from notifications.outbox import queue_email

KIND = "moderation_outcome"

AUTHOR_SUBJECTS = {
    Action.KEEP.value: "Your post is shown",
    Action.HIDE.value: "Your post was hidden by a moderator",
    Action.REMOVE.value: "Your post was removed by a moderator",
    Action.REQUEST_REVISION.value: "A moderator asked you to revise your post",
}
ACTIONED = frozenset({Action.HIDE.value, Action.REMOVE.value, Action.REQUEST_REVISION.value})


def _site() -> str:
    return current_app.config["SITE_NAME"]


def on_moderation_decided(
    app: Flask, item, post, action, reason: str, author, reporters, **_extra
) -> None:
    queue_event(
        KIND,
        item,
        payload={
            "type": "decision",
            "action": Action(action).value,
            "reason": reason,
            "author_id": author.id if author is not None else None,
            "reporter_ids": sorted(r.id for r in reporters),
            "post_id": post.id,
            "item_id": item.id,
            "version": item.version,
            "was_held": post.published_at is None or item.source.value == "hold",
        },
    )


def on_appeal_decided(app: Flask, appeal, outcome, reason: str, author, **_extra) -> None:
    queue_event(
        KIND,
        appeal,
        payload={
            "type": "appeal",
            "outcome": AppealState(outcome).value,
            "reason": reason,
            "author_id": author.id,
            "about_post": appeal.item_id is not None,
        },
    )


def on_sanction_applied(app: Flask, sanction, user, lifted: bool = False, **_extra) -> None:
    queue_event(
        KIND,
        sanction,
        payload={
            "type": "sanction",
            "kind": sanction.kind.value,
            "reason": sanction.lift_reason if lifted else sanction.reason,
            "until": sanction.ends_at.isoformat(),
            "lifted": lifted,
            "user_id": user.id,
            "sanction_id": sanction.id,
        },
    )


def _account_mail(user: User, template: str, subject: str, key: str, **ctx) -> int:
    text, html = render_email(template, user=user, **ctx)
    queued = queue_email(user, subject, text, html, category=Category.ACCOUNT, dedupe_key=key)
    return 1 if queued is not None else 0


def handle_moderation_outcome(event: NotificationEvent, now: datetime) -> EventBatch:
    payload = event.payload or {}
    kind = payload.get("type")
    queued = 0
    key = f"moderation:{event.id}"
    if kind == "decision":
        author = db.session.get(User, payload.get("author_id") or 0)
        action = payload["action"]
        if author is not None:
            queued += _account_mail(
                author,
                "moderation_decision",
                AUTHOR_SUBJECTS[action],
                f"{key}:author",
                action=action,
                reason=payload["reason"],
                was_held=payload.get("was_held", False),
                post_url=link("threads.permalink", post_id=payload["post_id"]),
                notices_url=link("moderation.notices"),
                appeal_url=(
                    link("moderation.appeal_item", item_id=payload["item_id"])
                    if action in (Action.HIDE.value, Action.REMOVE.value)
                    else None
                ),
                edit_url=link("threads.edit_post", post_id=payload["post_id"]),
            )
        taken = action in ACTIONED
        for reporter_id in payload.get("reporter_ids", []):
            reporter = db.session.get(User, reporter_id)
            if reporter is None:
                continue
            text, html = render_email(
                "moderation_report_outcome", user=reporter, action_taken=taken
            )
            subject = (
                "Action was taken on a post you flagged"
                if taken
                else "A post you flagged was reviewed"
            )
            if queue_email(
                reporter,
                subject,
                text,
                html,
                category=Category.DISCUSSION,
                dedupe_key=f"{key}:reporter:{reporter_id}",
            ):
                queued += 1
    elif kind == "appeal":
        author = db.session.get(User, payload["author_id"])
        if author is not None:
            accepted = payload["outcome"] == AppealState.OVERTURNED.value
            queued += _account_mail(
                author,
                "moderation_appeal",
                "Your appeal was accepted" if accepted else "Your appeal was declined",
                f"{key}:author",
                accepted=accepted,
                reason=payload["reason"],
                about_post=payload.get("about_post", True),
                notices_url=link("moderation.notices"),
            )
    elif kind == "sanction":
        user = db.session.get(User, payload["user_id"])
        if user is not None:
            lifted = payload.get("lifted", False)
            until = datetime.fromisoformat(payload["until"])
            queued += _account_mail(
                user,
                "moderation_sanction",
                f"You can post on {_site()} again"
                if lifted
                else f"Your {_site()} account can't post for now",
                f"{key}:user",
                lifted=lifted,
                kind=payload["kind"],
                reason=payload["reason"],
                until=None if payload["kind"] == "ban" else until.strftime("%-d %B %Y, %H:%M UTC"),
                account_url=link("moderation.my_account"),
            )
    else:
        return EventBatch(cancelled=True)
    return EventBatch(queued=queued)


def connect(app: Flask) -> None:
    """Listen to moderation's signals for this app, and handle their events in the worker."""
    register_event_kind(KIND, handle_moderation_outcome, app=app)
    pairs = [
        (moderation_decided, on_moderation_decided),
        (appeal_decided, on_appeal_decided),
        (sanction_applied, on_sanction_applied),
    ]
    for signal, receiver in pairs:
        signal.connect(receiver, sender=app, weak=False)  # type: ignore[type-var]
    app.extensions["notifications_moderation_receivers"] = pairs
