"""The demo's moderation: a living queue for moderator@example.com.

``seed_moderation()`` runs after the core's demo seed (``flask demo seed`` calls it, or
``flask moderation seed-demo``). It writes a link-exchange spam comment from a brand-new
account (held by the new-account rule), the same comment in a second thread, and a heated
but fair reflection that someone flagged (a moderator should keep it: anger about
injustice is allowed). Running it twice changes nothing.
"""

from __future__ import annotations

from forum.accounts.models import Role, User
from forum.accounts.services import create_user, get_user_by_email
from forum.courses.models import Course, Module, Prompt
from forum.extensions import db
from forum.service_errors import ServiceError
from forum.threads.models import Post
from forum.threads.services import create_post
from moderation import services
from moderation.models import Flag, FlagState, WatchAction, WatchedWord

DEMO_COURSE = "learning-to-be-an-ally"
SPAMMER = ("deals4u@example.com", "Quick Essay Deals")
SPAM = (
    "Great thread!! Need help with your course essays? Cheap and fast, link exchange "
    "welcome: https://essays-4u.example.com and www.best-deals.example.net"
)
HEATED = (
    "I am angry, honestly. Every week we read about the same injustice and people shrug. "
    "Being furious about how people are treated is not the same as hating anyone, and I "
    "don't want to be told to be calmer about it."
)


def _prompt(module_slug: str, prompt_slug: str) -> Prompt | None:
    return db.session.execute(
        db.select(Prompt)
        .join(Module, Prompt.module_id == Module.id)
        .join(Course, Module.course_id == Course.id)
        .where(Course.slug == DEMO_COURSE, Module.slug == module_slug, Prompt.slug == prompt_slug)
    ).scalar_one_or_none()


def _user(email: str, name: str, role: Role = Role.PARTICIPANT) -> User:
    from forum.demo import DEMO_PASSWORD

    user = get_user_by_email(email)
    if user is None:
        user = create_user(email, name, DEMO_PASSWORD, role=role, confirmed=True)
    return user


def _flag_once(reporter: User | None, post: Post, reason: str, note: str | None) -> bool:
    if reporter is None:
        return False
    seen = db.session.execute(
        db.select(Flag.id).where(Flag.post_id == post.id, Flag.reporter_id == reporter.id)
    ).first()
    if seen is not None:
        return False
    try:
        services.flag_post(reporter, post, reason, note)
    except ServiceError:
        return False
    return True


def seed_moderation() -> str:
    """Seed the demo's queue; returns one line saying what it did."""
    first = _prompt("noticing", "first-memory")
    room = _prompt("noticing", "who-is-in-the-room")
    discomfort = _prompt("noticing", "discomfort")
    if first is None or room is None or discomfort is None:
        return "Moderation demo skipped: run `flask demo seed` first."
    moderator = get_user_by_email("moderator@example.com")
    if (
        moderator is not None
        and db.session.execute(
            db.select(WatchedWord.id).where(WatchedWord.phrase == "cheap essays")
        ).first()
        is None
    ):
        services.add_watched_word(moderator, "cheap essays", WatchAction.HOLD)

    spammer = _user(*SPAMMER)
    written = 0
    for prompt, key in ((first, "demo-moderation-spam-1"), (room, "demo-moderation-spam-2")):
        _post, created = create_post(spammer, prompt, SPAM, idempotency_key=key)
        written += created

    daniel = get_user_by_email("daniel@example.com") or _user("daniel@example.com", "Daniel")
    heated, created = create_post(
        daniel, discomfort, HEATED, idempotency_key="demo-moderation-heated-1"
    )
    written += created
    flagged = 0
    flagged += _flag_once(
        get_user_by_email("tom@example.com"), heated, "harassment", "This feels aggressive."
    )
    sample = db.session.execute(
        db.select(Post)
        .where(Post.prompt_id == first.id, Post.author_id != spammer.id)
        .order_by(Post.id)
        .limit(1)
    ).scalar_one_or_none()
    if sample is not None:
        flagged += _flag_once(
            get_user_by_email("participant2@example.com"),
            sample,
            "privacy",
            "Names a classmate: could they be recognised?",
        )
    open_flags = db.session.execute(
        db.select(db.func.count(Flag.id)).where(Flag.state == FlagState.OPEN)
    ).scalar_one()
    return (
        f"Moderation demo: {written} post(s) written, {flagged} flag(s) added; "
        f"{open_flags} open flag(s) in the queue."
    )
