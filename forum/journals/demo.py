"""Demo journals: a few entries across the queue's tiers, written for the demo.

``seed_journals(users, course)`` is called by ``flask demo seed``; running it twice
changes nothing. It flushes only: the command commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from forum.accounts.models import User
from forum.courses.models import Course, Module
from forum.extensions import db
from forum.journals import services
from forum.journals.models import JournalEntry
from forum.support import services as support
from forum.support.models import Concern, Urgency
from forum.threads.models import Post, PostStatus

FACILITATOR_EMAIL = "facilitator@example.com"

# (author's email, module position, text, urgency of a support request or None).
# Written for this demo. The crisis-tier entry is written with care: it is what a person
# in real trouble might write, so facilitators can see how the queue puts it first.
DEMO_ENTRIES: tuple[tuple[str, int, str, Urgency | None], ...] = (
    (
        "participant@example.com",
        0,
        "This week I noticed how often I stay quiet when a joke in a meeting lands badly. "
        "I tell myself it isn't my place to say anything, but I think that's the habit "
        "this course is asking me to look at.",
        None,
    ),
    (
        "participant2@example.com",
        0,
        "Reading the accounts in this module brought back things from school I hadn't "
        "thought about for years. I'd like to talk them through with someone before the "
        "next session, if that's possible.",
        Urgency.TODAY,
    ),
    (
        "participant2@example.com",
        1,
        "I feel overwhelmed by how much of this I didn't see before. I'm keeping up with "
        "the reading, but it's sitting heavily with me this week.",
        None,
    ),
    (
        "participant@example.com",
        1,
        "I've found it hard to write this. Things at home have been very bad, and lately "
        "I keep thinking everyone would be better off without me. I don't really know "
        "who to tell.",
        None,
    ),
    (
        "nia@example.com",
        2,
        "Today's session stirred up something I can't put down. My chest is tight and I "
        "can't stop going over what happened at work. I don't want to be alone with it "
        "tonight.",
        Urgency.NOW,
    ),
)
CONCERN_NOTE = (
    "Their last few posts sound more and more worn down. I may be wrong, but could someone "
    "check in with them?"
)


def _by_email(users: Mapping[str, User] | Iterable[User]) -> dict[str, User]:
    if isinstance(users, Mapping):
        found = {email.lower(): user for email, user in users.items()}
    else:
        found = {user.email.lower(): user for user in users}
    return found


def _user(found: dict[str, User], email: str) -> User | None:
    if email in found:
        return found[email]
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()


def seed_journals(users: Mapping[str, User] | Iterable[User], course: Course) -> int:
    """Create the demo entries, requests and a concern; assign the demo facilitator.

    Returns how many entries it wrote (0 the second time).
    """
    found = _by_email(users)
    facilitator = _user(found, FACILITATOR_EMAIL)
    if facilitator is not None:
        support.assign_facilitator(None, facilitator, course)
    modules = [m for m in course.modules if m.journal_prompt.strip()]
    if not modules:
        return 0
    written = 0
    for email, position, text, urgency in DEMO_ENTRIES:
        author = _user(found, email)
        if author is None:
            continue
        module = modules[min(position, len(modules) - 1)]
        if _has_entry(author, text):
            continue
        saved = services.create_entry(author, module, text)
        written += 1
        if urgency is not None:
            support.request_support(author, saved.entry, urgency.value)
    _seed_concern(found, course)
    return written


def _has_entry(author: User, text: str) -> bool:
    return (
        db.session.execute(
            db.select(JournalEntry.id).filter_by(author_id=author.id, body_source=text)
        ).first()
        is not None
    )


def _seed_concern(found: dict[str, User], course: Course) -> None:
    """One concern from the first demo participant about someone else's visible post."""
    reporter = _user(found, "participant@example.com")
    if reporter is None:
        return
    if db.session.execute(db.select(Concern.id).filter_by(reporter_id=reporter.id)).first():
        return
    from forum.courses.models import Prompt

    post = db.session.execute(
        db.select(Post)
        .join(Prompt, Post.prompt_id == Prompt.id)
        .join(Module, Prompt.module_id == Module.id)
        .where(
            Module.course_id == course.id,
            Post.status == PostStatus.VISIBLE,
            Post.author_id != reporter.id,
        )
        .order_by(Post.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if post is not None:
        support.raise_concern(reporter, post, CONCERN_NOTE)
