"""Seed a large, realistic Hearth data set into a fresh database, in bulk.

Used by ``tests.bench.pages`` (and by tests/test_bench_seed.py with small counts). The
schema comes from the migrations (``flask db upgrade``), then ``db.create_all()`` for any
model whose migration isn't written yet (reported in ``SeedReport.created_outside_migrations``).
Rows go in with SQLAlchemy Core executemany inserts and explicit ids (sequences are moved
past them on PostgreSQL); each distinct body text is rendered by ``render_markdown`` once.
Nothing goes through the services, so no signals, emails or audit rows are produced.
"""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import inspect, text

from forum.extensions import db
from forum.markup import render_markdown

PASSWORD = "hearth-bench-password"
CHUNK = 5_000


@dataclass(frozen=True)
class Counts:
    users: int = 5_000
    courses: int = 3
    modules_per_course: int = 9
    prompts_per_module: int = 3
    posts: int = 50_000
    long_thread_posts: int = 5_000
    journal_entries: int = 100_000
    review_items: int = 10_000
    # Proportions of journal entries (support signals and requests).
    crisis: float = 0.02
    support: float = 0.08
    help_now: float = 0.01
    today: float = 0.03
    when_you_can: float = 0.04


@dataclass
class SeedReport:
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # The long thread and a few people to sign in as (all share PASSWORD).
    course_slug: str = ""
    module_slug: str = ""
    long_prompt_slug: str = ""
    other_prompt_slug: str = ""
    participant_email: str = ""
    facilitator_email: str = ""
    moderator_email: str = ""
    admin_email: str = ""
    moderation_seeded: bool = False
    notes: list[str] = field(default_factory=list)
    created_outside_migrations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --- text ------------------------------------------------------------------------------

_OPENINGS = [
    "This week's reading stayed with me longer than I expected.",
    "I wasn't sure what to write at first, so I went for a walk and came back to it.",
    "Reading the others' reflections here helped me put words to something.",
    "Honestly, this prompt was harder than it looks.",
    "I tried the exercise twice, once in the morning and once at night.",
    "Something small happened on Tuesday that fits this module well.",
]
_MIDDLES = [
    "When I think about how I react under pressure, I notice I go quiet and *plan* "
    "instead of saying what I need.",
    "My grandmother used to say that you can't pour from an empty cup, and I finally "
    "understand what she meant.",
    "The part about **noticing without judging** was the most useful for me: I caught "
    "myself three times.",
    "I wrote a list:\n\n- what I could control\n- what I couldn't\n- what I kept "
    "worrying about anyway\n\nThe third list was the longest.",
    "There's a good article on this at https://example.org/reading/attention that a "
    "friend sent me; it says much the same in fewer words.",
    "> Rest is not a reward for finishing.\n\nThat line from the reading is now on a "
    "sticky note above my desk.",
    "I talked it through with my partner and we disagreed about what counts as rest, "
    "which was its own lesson.",
    "It surprised me how much of my week is spent waiting for other people to reply.",
]
_CLOSINGS = [
    "I'd be glad to hear how others approached it.",
    "Next week I want to try the second exercise properly.",
    "Thanks for reading this far.",
    "Still thinking about it.",
    "",
]


def _post_bodies(rng: random.Random, count: int) -> list[str]:
    bodies = []
    for n in range(count):
        parts = [rng.choice(_OPENINGS)]
        parts += rng.sample(_MIDDLES, rng.randint(1, 4))
        closing = rng.choice(_CLOSINGS)
        if closing:
            parts.append(closing)
        parts.append(f"(reflection {n})")
        bodies.append("\n\n".join(parts))
    return bodies


_JOURNAL = [
    "Today felt heavy. I kept busy so I wouldn't have to think about it.",
    "A good day, mostly. I noticed I was kinder to myself when the plan fell apart.",
    "I'm not sure anyone reads these, but writing it down helps.",
    "Slept badly again. The breathing exercise helped a little around 3am.",
    "I had a hard conversation with my manager and it went better than I feared.",
    "I feel like I'm falling behind everyone else in the course.",
]
_CRISIS_TEXT = "I don't see the point of any of this any more and I can't keep going."
_SUPPORT_TEXT = "I've been feeling really overwhelmed and alone this week."


def _journal_bodies(rng: random.Random, count: int) -> list[str]:
    bodies = []
    for n in range(count):
        parts = rng.sample(_JOURNAL, rng.randint(1, 3))
        bodies.append(" ".join(parts) + f" ({n})")
    return bodies


# --- schema ------------------------------------------------------------------------------


def build_schema(app) -> list[str]:
    """Upgrade to the migrations' head, then create tables no migration makes yet."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        before = set(inspect(db.engine).get_table_names())
        db.create_all()
        after = set(inspect(db.engine).get_table_names())
        db.engine.dispose()
    return sorted(after - before)


# --- seeding -----------------------------------------------------------------------------


def _insert(conn, model, rows: list[dict]) -> None:
    table = model.__table__
    if rows and not set(rows[0]) <= set(table.c.keys()):
        # A model still being written may have dropped a column: leave it out.
        rows = [{k: v for k, v in row.items() if k in table.c} for row in rows]
    for start in range(0, len(rows), CHUNK):
        conn.execute(table.insert(), rows[start : start + CHUNK])


def seed(app, counts: Counts | None = None, seed_value: int = 1) -> SeedReport:
    """Fill an empty, migrated database. Returns what was made and who to log in as."""
    counts = counts or Counts()
    rng = random.Random(seed_value)
    report = SeedReport()
    started = time.perf_counter()
    with app.app_context():
        report.created_outside_migrations = []
        with db.engine.begin() as conn:
            _seed(conn, app, counts, rng, report)
        if db.engine.dialect.name == "postgresql":
            _fix_sequences()
        elif db.engine.dialect.name == "sqlite":
            with db.engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        db.engine.dispose()
    report.seconds = time.perf_counter() - started
    return report


def _fix_sequences() -> None:
    with db.engine.begin() as conn:
        for table in db.metadata.sorted_tables:
            if "id" not in table.c:
                continue
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
                )
            )
        conn.execute(text("ANALYZE"))


def _seed(conn, app, counts: Counts, rng: random.Random, report: SeedReport) -> None:
    from forum.accounts.models import Role, User
    from forum.accounts.passwords import hash_password
    from forum.courses.models import Course, Module, Prompt
    from forum.journals.models import JournalEntry, JournalReply
    from forum.support.detector import Tier
    from forum.support.models import (
        FLAGGED_RANKS,
        URGENT_RANKS,
        FacilitatorAssignment,
        Rank,
        SubjectType,
        SupportRequest,
        SupportSignal,
        TriageItem,
        TriageState,
        Urgency,
    )
    from forum.threads.models import Post
    from notifications.models import Subscription

    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=180)
    made: Counter[str] = Counter()

    # Users: one admin, three moderators, two facilitators per course, the rest learners.
    password_hash = hash_password(PASSWORD)
    staff = [(Role.ADMIN, "admin")] + [(Role.MODERATOR, f"moderator{i}") for i in range(3)]
    staff += [(Role.FACILITATOR, f"facilitator{i}") for i in range(2 * counts.courses)]
    users = []
    for n in range(counts.users):
        role, local = staff[n] if n < len(staff) else (Role.PARTICIPANT, f"learner{n}")
        users.append(
            {
                "id": n + 1,
                "email": f"{local}@bench.example",
                "display_name": f"Learner {n}" if role == Role.PARTICIPANT else local.title(),
                "password_hash": password_hash,
                "role": role.value,
                "session_token": secrets.token_hex(16),
                "email_confirmed_at": start,
                "created_at": start,
                "last_login_at": None,
                "suspended_until": None,
            }
        )
    _insert(conn, User, users)
    made["users"] = len(users)
    participants = [u["id"] for u in users if u["role"] == Role.PARTICIPANT.value]
    moderators = [u["id"] for u in users if u["role"] == Role.MODERATOR.value]
    facilitators = [u["id"] for u in users if u["role"] == Role.FACILITATOR.value]
    report.admin_email = "admin@bench.example"
    report.moderator_email = "moderator0@bench.example"
    report.facilitator_email = "facilitator0@bench.example"
    report.participant_email = users[participants[0] - 1]["email"]

    # Courses, modules, prompts.
    courses, modules, prompts = [], [], []
    for c in range(counts.courses):
        courses.append(
            {
                "id": c + 1,
                "slug": f"course-{c + 1}",
                "title": f"Course {c + 1}: living with uncertainty",
                "intro": "Nine weeks of reading, practice and reflection together.",
                "created_at": start,
                "updated_at": start,
            }
        )
        for m in range(counts.modules_per_course):
            module_id = len(modules) + 1
            modules.append(
                {
                    "id": module_id,
                    "course_id": c + 1,
                    "slug": f"week-{m + 1}",
                    "position": m,
                    "title": f"Week {m + 1}",
                    "intro": "This week we look at attention, rest and asking for help.",
                    "journal_prompt": "What stayed with you this week?",
                }
            )
            for p in range(counts.prompts_per_module):
                prompts.append(
                    {
                        "id": len(prompts) + 1,
                        "module_id": module_id,
                        "slug": f"prompt-{p + 1}",
                        "position": p,
                        "title": f"Reflection {p + 1} for week {m + 1}",
                        "body": "Write about a moment this week when you noticed it.",
                        "post_count": 0,
                        "last_post_at": None,
                    }
                )
    _insert(conn, Course, courses)
    _insert(conn, Module, modules)
    made["courses"], made["modules"] = len(courses), len(modules)
    module_course = {m["id"]: m["course_id"] for m in modules}
    prompt_module = {p["id"]: p["module_id"] for p in prompts}
    report.course_slug, report.module_slug = courses[0]["slug"], modules[0]["slug"]
    report.long_prompt_slug = prompts[0]["slug"]
    report.other_prompt_slug = prompts[1]["slug"] if len(prompts) > 1 else prompts[0]["slug"]

    # Posts: one long thread (prompt 1), the rest spread over the other prompts.
    bodies = [render_markdown(b) for b in _post_bodies(rng, min(300, max(20, counts.posts // 10)))]
    long_n = min(counts.long_thread_posts, counts.posts)
    other_prompts = [p["id"] for p in prompts[1:]] or [prompts[0]["id"]]
    post_prompt = [prompts[0]["id"]] * long_n + [
        other_prompts[i % len(other_prompts)] for i in range(counts.posts - long_n)
    ]
    span = (now - timedelta(hours=1) - start).total_seconds()
    per_prompt_seen: Counter[int] = Counter()
    posts = []
    last_in_prompt: dict[int, int] = {}
    for i, prompt_id in enumerate(post_prompt):
        k = per_prompt_seen[prompt_id]
        per_prompt_seen[prompt_id] += 1
        if prompt_id == prompts[0]["id"]:
            # 50 distinct authors on every page of 50: consecutive learners.
            author = participants[k % len(participants)]
            created = start + timedelta(seconds=span * k / max(long_n, 1))
        else:
            author = participants[rng.randrange(len(participants))]
            created = start + timedelta(seconds=span * i / max(counts.posts, 1))
        body = bodies[rng.randrange(len(bodies))]
        parent = last_in_prompt.get(prompt_id) if rng.random() < 0.1 else None
        post_id = i + 1
        posts.append(
            {
                "id": post_id,
                "prompt_id": prompt_id,
                "author_id": author,
                "parent_id": parent,
                "status": "visible",
                "idempotency_key": None,
                "created_at": created,
                "published_at": created,
                "edited_at": None,
                "deleted_at": None,
                "body_source": body.source,
                "body_html": body.html,
                "sanitizer_version": body.sanitizer_version,
            }
        )
        last_in_prompt[prompt_id] = post_id

    # Review items (moderation), only if its model exists; never on the long thread.
    review_rows, flag_rows = [], []
    try:
        from moderation.models import Flag, ReviewItem
    except ImportError:  # pragma: no cover - depends on the moderation package's progress
        ReviewItem = Flag = None
    if ReviewItem is None:
        report.notes.append("moderation.models.ReviewItem doesn't exist: no review items seeded")
    elif counts.review_items:
        report.moderation_seeded = True
        candidates = [p for p in posts if p["prompt_id"] != prompts[0]["id"]]
        chosen = rng.sample(candidates, min(counts.review_items, len(candidates)))
        reasons = ["spam", "harassment", "privacy", "off_topic", "other"]
        for n, post in enumerate(chosen):
            roll = rng.random()
            if roll < 0.3:
                state, source, post_status = "pending", "flags", "visible"
            elif roll < 0.4:
                state, source, post_status = "pending", "hold", "held"
            elif roll < 0.7:
                state, source, post_status = "kept", "flags", "visible"
            elif roll < 0.85:
                state, source, post_status = "hidden", "flags", "hidden"
            else:
                state, source, post_status = "removed", "flags", "removed"
            post["status"] = post_status
            if post_status == "held":
                post["published_at"] = None
            item_id = n + 1
            open_flags = rng.randint(1, 3) if (state == "pending" and source == "flags") else 0
            decided = state != "pending"
            review_rows.append(
                {
                    "id": item_id,
                    "post_id": post["id"],
                    "module_id": prompt_module[post["prompt_id"]],
                    "state": state,
                    "source": source,
                    "hold_rule": "new_account" if source == "hold" else None,
                    "hold_reason": "First post from a new account" if source == "hold" else None,
                    "priority": rng.randint(0, 3),
                    "open_flags": open_flags,
                    "distressing": rng.random() < 0.05,
                    "snapshot_source": post["body_source"],
                    "snapshot_html": post["body_html"],
                    "snapshot_author_id": post["author_id"],
                    "snapshot_posted_at": post["created_at"],
                    "created_at": post["created_at"] + timedelta(minutes=30),
                    "updated_at": post["created_at"] + timedelta(minutes=30),
                    "version": 1 if decided else 0,
                    "decided_at": post["created_at"] + timedelta(hours=5) if decided else None,
                    "decided_by_id": moderators[n % len(moderators)] if decided else None,
                    "decision_reason": "Reviewed." if decided else None,
                    "auto_hidden": False,
                    "claimed_by": None,
                    "claimed_until": None,
                }
            )
            reporters = rng.sample(participants, max(open_flags, 1) if source == "flags" else 0)
            for reporter in reporters:
                flag_rows.append(
                    {
                        "id": len(flag_rows) + 1,
                        "item_id": item_id,
                        "post_id": post["id"],
                        "reporter_id": reporter,
                        "reason": rng.choice(reasons),
                        "note": None,
                        "state": "open" if state == "pending" else "actioned",
                        "created_at": post["created_at"] + timedelta(minutes=30),
                        "resolved_at": None if state == "pending" else post["created_at"],
                    }
                )

    _insert(conn, Prompt, prompts)
    made["prompts"] = len(prompts)
    _insert(conn, Post, posts)
    made["posts"] = len(posts)
    visible = Counter(p["prompt_id"] for p in posts if p["status"] == "visible")
    last_at: dict[int, datetime] = {}
    for p in posts:
        last_at[p["prompt_id"]] = max(last_at.get(p["prompt_id"], start), p["created_at"])
    conn.execute(
        Prompt.__table__.update()
        .where(Prompt.__table__.c.id == db.bindparam("pid"))
        .values(post_count=db.bindparam("n"), last_post_at=db.bindparam("at")),
        [{"pid": pid, "n": visible[pid], "at": last_at.get(pid)} for pid in visible],
    )
    if review_rows:
        _insert(conn, ReviewItem, review_rows)
        _insert(conn, Flag, flag_rows)
    made["review_items"], made["flags"] = len(review_rows), len(flag_rows)

    # Posting subscribes you to the thread.
    pairs = sorted({(p["author_id"], p["prompt_id"]) for p in posts})
    subscriptions = [
        {
            "id": n + 1,
            "user_id": user_id,
            "prompt_id": prompt_id,
            "module_id": None,
            "mode": "watching",
            "created_at": start,
        }
        for n, (user_id, prompt_id) in enumerate(pairs)
    ]
    _insert(conn, Subscription, subscriptions)
    made["subscriptions"] = len(subscriptions)

    # Facilitators: two per course.
    assignments = [
        {
            "id": n + 1,
            "user_id": uid,
            "course_id": courses[n % len(courses)]["id"],
            "created_at": start,
        }
        for n, uid in enumerate(facilitators)
    ]
    _insert(conn, FacilitatorAssignment, assignments)
    course_facilitator = {a["course_id"]: a["user_id"] for a in assignments}

    # Journal entries, each with its detector signal and its triage row; some requests.
    journal_bodies = [
        render_markdown(b)
        for b in _journal_bodies(rng, min(200, max(20, counts.journal_entries // 10)))
    ]
    crisis_body = render_markdown(_CRISIS_TEXT)
    support_body = render_markdown(_SUPPORT_TEXT)
    entries, signals, requests, triage, replies = [], [], [], [], []
    jspan = (now - timedelta(minutes=5) - start).total_seconds()
    module_ids = [m["id"] for m in modules]
    for n in range(counts.journal_entries):
        entry_id = n + 1
        author = participants[rng.randrange(len(participants))]
        module_id = module_ids[rng.randrange(len(module_ids))]
        course_id = module_course[module_id]
        created = start + timedelta(seconds=jspan * n / max(counts.journal_entries, 1))
        roll = rng.random()
        tier = Tier.NONE
        body = journal_bodies[rng.randrange(len(journal_bodies))]
        if roll < counts.crisis:
            tier, body = Tier.CRISIS, crisis_body
        elif roll < counts.crisis + counts.support:
            tier, body = Tier.SUPPORT, support_body
        roll = rng.random()
        urgency = None
        if roll < counts.help_now:
            urgency = Urgency.NOW
        elif roll < counts.help_now + counts.today:
            urgency = Urgency.TODAY
        elif roll < counts.help_now + counts.today + counts.when_you_can:
            urgency = Urgency.WHEN_YOU_CAN
        withdrawn = rng.random() < 0.02
        # Older entries have mostly been answered; the last few weeks' mostly wait.
        age_days = (now - created).days
        answered = not withdrawn and rng.random() < (0.9 if age_days > 21 else 0.3)
        read = answered or rng.random() < 0.2
        replied_at = created + timedelta(hours=rng.randint(2, 48)) if answered else None
        entries.append(
            {
                "id": entry_id,
                "author_id": author,
                "module_id": module_id,
                "course_id": course_id,
                "status": "withdrawn" if withdrawn else "active",
                "created_at": created,
                "edited_at": None,
                "withdrawn_at": created + timedelta(hours=1) if withdrawn else None,
                "first_read_at": created + timedelta(hours=1) if read else None,
                "last_staff_reply_at": replied_at,
                "edited_since_reply": False,
                "body_source": "" if withdrawn else body.source,
                "body_html": "" if withdrawn else body.html,
                "sanitizer_version": body.sanitizer_version,
            }
        )
        signals.append(
            {
                "id": entry_id,
                "subject_type": SubjectType.JOURNAL_ENTRY.value,
                "subject_id": entry_id,
                "author_id": author,
                "tier": tier.value,
                "matches": [] if tier == Tier.NONE else ["a phrase"],
                "lexicon_version": "bench",
                "created_at": created,
            }
        )
        if answered:
            replies.append(
                {
                    "id": len(replies) + 1,
                    "entry_id": entry_id,
                    "author_id": course_facilitator.get(course_id, facilitators[0]),
                    "from_staff": True,
                    "created_at": replied_at,
                    "body_source": "Thank you for writing this. I read it carefully.",
                    "body_html": "<p>Thank you for writing this. I read it carefully.</p>",
                    "sanitizer_version": body.sanitizer_version,
                }
            )
        if urgency is not None:
            requests.append(
                {
                    "id": len(requests) + 1,
                    "requester_id": author,
                    "subject_type": SubjectType.JOURNAL_ENTRY.value,
                    "subject_id": entry_id,
                    "urgency": urgency.value,
                    "status": "answered" if answered else ("withdrawn" if withdrawn else "open"),
                    "created_at": created,
                    "closed_at": replied_at,
                }
            )
        open_urgency = urgency if (urgency is not None and not answered and not withdrawn) else None
        rank = (
            Rank.HELP_NOW
            if open_urgency == Urgency.NOW
            else Rank.CRISIS
            if tier == Tier.CRISIS
            else Rank.TODAY
            if open_urgency == Urgency.TODAY
            else Rank.NEEDS_SUPPORT
            if tier == Tier.SUPPORT or open_urgency
            else Rank.UNANSWERED
        )
        state = (
            TriageState.CLOSED
            if withdrawn
            else TriageState.ANSWERED
            if answered
            else TriageState.WAITING
        )
        triage.append(
            {
                "id": entry_id,
                "subject_type": SubjectType.JOURNAL_ENTRY.value,
                "subject_id": entry_id,
                "course_id": course_id,
                "module_id": module_id,
                "person_id": author,
                "state": state.value,
                "rank": int(rank),
                "waiting_since": created,
                "tier": tier.value,
                "urgency": open_urgency.value if open_urgency else None,
                "open_concerns": 0,
                "flagged": rank in FLAGGED_RANKS or urgency is not None,
                "edited_since_reply": False,
                "created_at": created,
                "updated_at": replied_at or created,
                "urgent_since": created
                if state == TriageState.WAITING and rank in URGENT_RANKS
                else None,
                "alerted_at": None,
                "first_response_at": replied_at,
                "resolved_at": replied_at,
                "resolved_by_id": course_facilitator.get(course_id) if answered else None,
                "claimed_by_id": None,
                "claimed_until": None,
            }
        )
    _insert(conn, JournalEntry, entries)
    _insert(conn, JournalReply, replies)
    _insert(conn, SupportSignal, signals)
    _insert(conn, SupportRequest, requests)
    _insert(conn, TriageItem, triage)
    made["journal_entries"], made["journal_replies"] = len(entries), len(replies)
    made["support_signals"], made["support_requests"] = len(signals), len(requests)
    made["triage_items"] = len(triage)
    made["triage_waiting"] = sum(1 for t in triage if t["state"] == "waiting")
    made["facilitator_assignments"] = len(assignments)
    report.counts = dict(made)
