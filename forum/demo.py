"""``flask demo seed``: the demo course, one account per role and a course in progress.

Besides the course and the five demo logins, the seed writes the sample reflections and
replies in ``forum/demo_content.toml`` from a few more participants, backdated over the
last days, so the first look at the demo shows people thinking together. Running it twice
changes nothing: every sample post carries an idempotency key derived from its id.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from pathlib import Path
from typing import Any

import click
from flask import current_app
from sqlalchemy import func, update

from forum import DEFAULT_EXTENSION_PACKAGES
from forum.accounts.models import Role, User
from forum.accounts.services import create_user, get_user_by_email
from forum.courses import DEMO_COURSE_FILE
from forum.courses.models import Course, Module, Prompt
from forum.courses.services import import_course, read_course_file
from forum.database import utcnow
from forum.extensions import db
from forum.journals.demo import seed_journals
from forum.threads.models import Post, PostStatus
from forum.threads.services import PostError, create_post
from forum.transactions import TransactionalGroup

demo_cli = TransactionalGroup("demo", help="Demo data for trying Hearth out.")

DEMO_ACCOUNTS = (
    ("participant@example.com", "Sam (participant)", Role.PARTICIPANT),
    ("participant2@example.com", "Alex (participant)", Role.PARTICIPANT),
    ("facilitator@example.com", "Jordan (facilitator)", Role.FACILITATOR),
    ("moderator@example.com", "Riley (moderator)", Role.MODERATOR),
    ("admin@example.com", "Morgan (admin)", Role.ADMIN),
)
DEMO_PASSWORD = "hearth-demo-password"  # noqa: S105 (public on purpose: demo data)
DEMO_CONTENT_FILE = Path(__file__).parent / "demo_content.toml"
# Sample posts' idempotency keys start with this, so they are easy to tell apart.
SAMPLE_KEY_PREFIX = "demo-"


@dataclass(frozen=True)
class SamplePost:
    id: str
    author: str
    module: str
    prompt: str
    hours_ago: float
    body: str
    reply_to: str | None = None

    @property
    def idempotency_key(self) -> str:
        """A stable key per sample post: the same post is found, not written, next time."""
        digest = hashlib.sha256(self.id.encode()).hexdigest()[:32]
        return SAMPLE_KEY_PREFIX + digest


@dataclass(frozen=True)
class SampleContent:
    people: list[tuple[str, str]]
    posts: list[SamplePost]


# A line that starts a Markdown block of its own; any other line continues the one above.
_BLOCK_START = re.compile(r"^(?:[-*>]|\d+\.)\s")


def unwrap(text: str) -> str:
    """Join hard-wrapped lines the way a person typing in a text box would have written
    them: one line per paragraph, list item and quote."""
    lines: list[str] = []
    for raw in text.strip().splitlines():
        line = raw.strip()
        if line and lines and lines[-1] and not _BLOCK_START.match(line):
            lines[-1] += " " + line
        else:
            lines.append(line)
    return "\n".join(lines)


def read_sample_content(path: Path = DEMO_CONTENT_FILE) -> SampleContent:
    """Parse and check the sample content file; a mistake in it is a clear error."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        people = [(p["email"], p["name"]) for p in data.get("people", [])]
        posts = [
            SamplePost(
                id=p["id"],
                author=p["author"],
                module=p["module"],
                prompt=p["prompt"],
                hours_ago=float(p["hours_ago"]),
                body=unwrap(p["body"]),
                reply_to=p.get("reply_to"),
            )
            for p in data.get("posts", [])
        ]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise click.ClickException(f"{path.name}: {exc!r}") from exc
    by_id: dict[str, SamplePost] = {}
    for post in posts:
        if post.id in by_id:
            raise click.ClickException(f"{path.name}: post id {post.id!r} is used twice.")
        parent = by_id.get(post.reply_to) if post.reply_to else None
        if post.reply_to and (parent is None or parent.hours_ago <= post.hours_ago):
            raise click.ClickException(
                f"{path.name}: {post.id!r} must come after, and be younger than, "
                f"the post it replies to ({post.reply_to!r})."
            )
        by_id[post.id] = post
    return SampleContent(people=people, posts=posts)


def _find_prompt(course: Course, module_slug: str, prompt_slug: str) -> Prompt:
    prompt = db.session.execute(
        db.select(Prompt)
        .join(Module, Prompt.module_id == Module.id)
        .where(Module.course_id == course.id, Module.slug == module_slug)
        .where(Prompt.slug == prompt_slug)
    ).scalar_one_or_none()
    if prompt is None:
        raise click.ClickException(
            f"{DEMO_CONTENT_FILE.name}: no prompt {module_slug}/{prompt_slug} in the demo course."
        )
    return prompt


def _refresh_last_post_at(prompt_ids: set[int]) -> None:
    # create_post stamped "now" as the latest activity; backdated posts must not look new.
    for prompt_id in prompt_ids:
        latest = db.session.execute(
            db.select(func.max(Post.created_at)).where(
                Post.prompt_id == prompt_id, Post.status == PostStatus.VISIBLE
            )
        ).scalar_one()
        db.session.execute(update(Prompt).where(Prompt.id == prompt_id).values(last_post_at=latest))


def seed_sample_posts(course: Course, content: SampleContent) -> int:
    """Write the sample reflections that aren't there yet; return how many were written."""
    now = utcnow()
    authors: dict[str, User] = {}
    written: dict[str, Post] = {}
    touched: set[int] = set()
    created = 0
    for sample in content.posts:
        author = authors.get(sample.author) or get_user_by_email(sample.author)
        if author is None:
            raise click.ClickException(f"{DEMO_CONTENT_FILE.name}: no account {sample.author}.")
        authors[sample.author] = author
        prompt = _find_prompt(course, sample.module, sample.prompt)
        parent = written.get(sample.reply_to) if sample.reply_to else None
        if sample.reply_to and parent is None:
            click.echo(f"Skipped sample reply {sample.id!r}: its post was skipped.", err=True)
            continue
        try:
            post, is_new = create_post(
                author, prompt, sample.body, parent=parent, idempotency_key=sample.idempotency_key
            )
        except PostError as exc:
            # A demo account changed by hand (suspended, say) must not stop the rest.
            click.echo(f"Skipped sample post {sample.id!r}: {exc}", err=True)
            continue
        written[sample.id] = post
        if is_new:
            when = now - timedelta(hours=sample.hours_ago)
            post.created_at = when
            if post.published_at is not None:
                post.published_at = when
            touched.add(prompt.id)
            created += 1
    db.session.flush()
    _refresh_last_post_at(touched)
    return created


def _ensure_account(email: str, name: str, role: Role) -> bool:
    if get_user_by_email(email) is not None:
        return False
    create_user(email, name, DEMO_PASSWORD, role=role, confirmed=True)
    return True


@demo_cli.command("seed")
@click.option("--force", is_flag=True, help="Seed even outside development mode.")
def seed_command(force: bool) -> None:
    """Import the demo course, demo accounts and sample reflections; twice changes nothing."""
    if current_app.config["ENV"] == "production" and not force:
        raise click.ClickException(
            "Demo accounts have public passwords; refusing in production (use --force)."
        )
    content = read_sample_content()
    report = import_course(read_course_file(DEMO_COURSE_FILE))
    created = 0
    for email, name, role in DEMO_ACCOUNTS:
        created += _ensure_account(email, name, role)
    for email, name in content.people:
        created += _ensure_account(email, name, Role.PARTICIPANT)
    posts = seed_sample_posts(report.course, content)
    demo_people = [
        user
        for email in [*(a[0] for a in DEMO_ACCOUNTS), *(p[0] for p in content.people)]
        if (user := get_user_by_email(email)) is not None
    ]
    entries = seed_journals(demo_people, report.course)
    extra = []
    for name in current_app.config.get("EXTENSION_PACKAGES", DEFAULT_EXTENSION_PACKAGES):
        # Extension packages may offer demo data of their own (moderation's queue).
        seed = getattr(import_module(name), "seed_demo", None)
        if seed is not None:
            extra.append(seed())
    click.echo(
        f"{report} {created} demo account(s) created. {posts} sample post(s) written. "
        f"{entries} journal entr{'y' if entries == 1 else 'ies'} written."
    )
    for line in extra:
        if line:
            click.echo(str(line))
    click.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD})")
    for email, _name, role in DEMO_ACCOUNTS:
        click.echo(f"  {role.value:<12} {email}")
    others = ", ".join(email for email, _name in content.people)
    click.echo(f"  sample participants who wrote the sample reflections: {others}")
