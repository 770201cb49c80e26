"""Every hostile string through every user-facing text field over HTTP: a 2xx/3xx or a
clear 4xx, never a 500; stored and rendered HTML stays inside the allowlist."""

from __future__ import annotations

import re
import secrets
from html.parser import HTMLParser

import pytest

from forum.accounts.models import Role, User
from forum.courses import DEMO_COURSE_FILE
from forum.courses.services import import_course, read_course_file
from forum.extensions import db
from forum.threads.models import Post
from tests.hostile import audit_fragment, hostile_strings
from tests.journals import conftest as journal_fixtures
from tests.journals.conftest import MODULE_NEW, THREAD, write_post

# The journals' world (one person per role, two courses) and its logged-in clients.
cast = journal_fixtures.cast
client_for = journal_fixtures.client_for

STRINGS = hostile_strings()
ACCEPTABLE = {200, 302, 303, 400, 413, 422}


@pytest.fixture
def app_config():
    return {
        "POSTS_PER_PAGE": len(STRINGS) + 10,
        # Every string gets its own concern, flag and post: no daily budget may refuse them.
        "SUPPORT_CONCERNS_PER_DAY": 10 * len(STRINGS) + 10,
        "MODERATION_FLAGS_PER_DAY": 10 * len(STRINGS) + 10,
        "MODERATION_NEW_ACCOUNT_DAYS": 0,
        "MODERATION_NEW_ACCOUNT_POSTS": 0,
        "MODERATION_DUPLICATE_HOURS": 0,
    }


@pytest.fixture
def thread_path(app):
    with app.app_context():
        course = import_course(read_course_file(DEMO_COURSE_FILE)).course
        db.session.commit()
        module = course.modules[0]
        return f"/c/{course.slug}/{module.slug}/{module.prompts[0].slug}"


class _PageAudit(HTMLParser):
    """Script-capable markup anywhere on a rendered page, read as a browser would."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and not re.fullmatch(
            r"/static/[\w.-]+\.js", attributes.get("src") or ""
        ):
            self.problems.append(f"<script {attributes}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{name} on <{tag}>")
            if name in {"href", "src", "action", "formaction"} and re.match(
                r"\s*(javascript|data|vbscript):", value or "", re.I
            ):
                self.problems.append(f"{name}={value!r} on <{tag}>")


def _page_problems(html: str) -> list[str]:
    audit = _PageAudit()
    audit.feed(html)
    audit.close()
    return audit.problems


def test_every_hostile_string_as_a_reflection(client, login, make_user, thread_path, app):
    login(client, make_user())
    statuses = {}
    for text in STRINGS:
        response = client.post(
            thread_path + "/posts",
            data={"body": text, "idempotency_key": secrets.token_urlsafe(24)},
        )
        statuses.setdefault(response.status_code, []).append(text)
    assert set(statuses) <= ACCEPTABLE, {k: v[:3] for k, v in statuses.items()}
    assert len(statuses.get(303, [])) >= len(STRINGS) * 0.9

    with app.app_context():
        posts = db.session.execute(db.select(Post)).scalars().all()
        bad = {p.body_source: audit_fragment(p.body_html) for p in posts}
        assert not {k: v for k, v in bad.items() if v}
        stored_html = [p.body_html for p in posts]

    page = client.get(thread_path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert not _page_problems(html)
    for fragment in stored_html:  # the page shows exactly the sanitised HTML
        assert fragment in html


def test_every_hostile_string_as_a_display_name(client, login, make_user, app):
    user = make_user()
    login(client, user)
    for text in STRINGS:
        response = client.post("/account/settings/name", data={"name-display_name": text})
        assert response.status_code in ACCEPTABLE, text
    settings = client.get("/account/settings")
    assert settings.status_code == 200
    assert not _page_problems(settings.get_data(as_text=True))
    with app.app_context():
        name = db.session.get(User, user.id).display_name
    assert "\n" not in name and "\r" not in name and "\x00" not in name


def test_every_hostile_string_in_search_and_login(client, login, make_user):
    login(client, make_user(Role.ADMIN))
    anonymous = client.application.test_client()
    for text in STRINGS:
        response = client.get("/account/admin/users", query_string={"q": text})
        assert response.status_code in ACCEPTABLE, text
        assert not _page_problems(response.get_data(as_text=True)), text
        response = anonymous.post("/account/login", data={"email": text, "password": text})
        assert response.status_code in ACCEPTABLE, text


def test_page_audit_can_fail():
    assert _page_problems("<script>alert(1)</script>")
    assert _page_problems('<a href="javascript:alert(1)">x</a>')
    assert _page_problems("<img src=x onerror=alert(1)>")
    assert not _page_problems('<script src="/static/hearth.js" defer></script>')


# --- the fields the journals, support and moderation added ------------------------------

# Pages are rendered for at most this many of the strings' records (every POST is sent).
RENDER_AT_MOST = 300


def _statuses_ok(statuses: dict[int, list[str]]) -> None:
    assert set(statuses) <= ACCEPTABLE | {404, 409}, {k: v[:3] for k, v in statuses.items()}
    assert 500 not in statuses


def _record(statuses, response, text) -> None:
    statuses.setdefault(response.status_code, []).append(text)


def _audit_rows(app, model) -> None:
    with app.app_context():
        rows = db.session.execute(db.select(model)).scalars().all()
        assert rows, model
        bad = {r.body_source: audit_fragment(r.body_html) for r in rows}
        assert not {k: v for k, v in bad.items() if v}


def _pages_clean(client, paths) -> None:
    for path in paths:
        response = client.get(path)
        assert response.status_code in (200, 303, 302), (path, response.status_code)
        problems = _page_problems(response.get_data(as_text=True))
        assert not problems, (path, problems)


def test_every_hostile_string_in_journal_entries_answers_and_replies(app, cast, client_for):
    from forum.journals.models import JournalEntry, JournalReply

    ada, fay = client_for(cast.author), client_for(cast.facilitator)
    statuses: dict[int, list[str]] = {}
    entry_ids = []
    for text in STRINGS:
        response = ada.post(MODULE_NEW, data={"body": text})
        _record(statuses, response, text)
        if response.status_code == 303:
            entry_ids.append(int(response.headers["Location"].rsplit("/", 1)[1]))
    assert len(entry_ids) >= len(STRINGS) * 0.9
    for entry_id, text in zip(entry_ids, STRINGS, strict=False):
        _record(
            statuses, ada.post(f"/journal/entries/{entry_id}/replies", data={"body": text}), text
        )
        fay.post(f"/journal/entries/{entry_id}/open")
        _record(
            statuses, fay.post(f"/journal/entries/{entry_id}/replies", data={"body": text}), text
        )
        _record(statuses, ada.post(f"/journal/entries/{entry_id}/edit", data={"body": text}), text)
    _statuses_ok(statuses)
    _audit_rows(app, JournalEntry)
    _audit_rows(app, JournalReply)
    shown = entry_ids[:RENDER_AT_MOST]
    _pages_clean(ada, ["/journal", *[f"/journal/entries/{i}" for i in shown]])
    _pages_clean(fay, ["/support/queue", "/support/dashboard"])
    for entry_id in shown:  # the staff view of the entry, opened
        response = fay.post(f"/journal/entries/{entry_id}/open")
        assert response.status_code == 200
        assert not _page_problems(response.get_data(as_text=True)), entry_id


def test_every_hostile_string_as_a_concern_note_and_support_queue_item(app, cast, client_for):
    from forum.support.models import TriageItem

    ada, otto, fay = client_for(cast.author), client_for(cast.other), client_for(cast.facilitator)
    statuses: dict[int, list[str]] = {}
    for number, text in enumerate(STRINGS):
        post_id = write_post(ada, f"Reflection {number}.")
        _record(statuses, otto.post(f"/support/posts/{post_id}/concern", data={"note": text}), text)
        # A support request has no text of its own: only its urgency, a hostile value here.
        _record(
            statuses, ada.post(f"/support/posts/{post_id}/request", data={"urgency": text}), text
        )
    _statuses_ok(statuses)
    assert len(statuses.get(303, [])) >= len(STRINGS) * 0.9
    with app.app_context():
        items = list(db.session.execute(db.select(TriageItem.id)).scalars())
    assert items
    _pages_clean(fay, ["/support/queue", *[f"/support/queue/{i}" for i in items[:RENDER_AT_MOST]]])


def test_every_hostile_string_through_flags_decisions_and_appeals(app, cast, client_for):
    from moderation.models import Action, Appeal, ReviewItem

    ada, otto, mo = client_for(cast.author), client_for(cast.other), client_for(cast.moderator)
    admin = client_for(cast.admin)
    actions = [Action.HIDE, Action.REMOVE, Action.REQUEST_REVISION, Action.KEEP]
    statuses: dict[int, list[str]] = {}
    item_ids = []
    for number, text in enumerate(STRINGS):
        post_id = write_post(ada, f"Reflection {number}.")
        _record(
            statuses,
            otto.post(f"/posts/{post_id}/flag", data={"reason": "other", "note": text}),
            text,
        )
        with app.app_context():
            item = db.session.execute(
                db.select(ReviewItem).filter_by(post_id=post_id)
            ).scalar_one_or_none()
            if item is None:
                continue
            item_id, version = item.id, item.version
        item_ids.append(item_id)
        action = actions[number % len(actions)]
        decided = mo.post(
            f"/moderation/items/{item_id}/decide",
            data={"action": action.value, "reason": text, "version": str(version)},
        )
        _record(statuses, decided, text)
        if decided.status_code == 303 and action != Action.KEEP:
            _record(
                statuses,
                ada.post(f"/moderation/items/{item_id}/appeal", data={"message": text}),
                text,
            )
    assert len(item_ids) >= len(STRINGS) * 0.9
    with app.app_context():
        appeals = [(a.id, a.version) for a in db.session.execute(db.select(Appeal)).scalars()]
    assert appeals
    for number, (appeal_id, version) in enumerate(appeals):
        outcome = ("overturned", "upheld")[number % 2]
        text = STRINGS[number % len(STRINGS)]
        _record(
            statuses,
            admin.post(
                f"/moderation/appeals/{appeal_id}/decide",
                data={"outcome": outcome, "reason": text, "version": str(version)},
            ),
            text,
        )
    # The other moderator actions with a reason: lock and unlock, spam.
    lock = f"/moderation/threads/{cast.prompt_id}/lock"
    for text in STRINGS:
        _record(statuses, mo.post(lock, data={"reason": text}), text)  # locks
        _record(statuses, mo.post(lock, data={"reason": text}), text)  # unlocks
        spam = {"reason": text, "item_ids": str(item_ids[0])}
        _record(statuses, mo.post("/moderation/queue/spam", data=spam), text)
    _statuses_ok(statuses)
    shown = item_ids[:RENDER_AT_MOST]
    _pages_clean(
        mo,
        [
            "/moderation/queue",
            "/moderation/queue?state=hidden",
            "/moderation/queue?state=removed",
            "/moderation/queue?state=kept",
            "/moderation/audit",
            *[f"/moderation/items/{i}" for i in shown],
            *[f"/moderation/appeals/{a}" for a, _ in appeals[:RENDER_AT_MOST]],
        ],
    )
    _pages_clean(ada, ["/moderation/notices", "/moderation/my-account"])


def test_every_hostile_string_as_a_sanction_reason_and_account_note(
    app, cast, client_for, make_user
):
    mo, admin = client_for(cast.moderator), client_for(cast.admin)
    statuses: dict[int, list[str]] = {}
    from moderation.models import Sanction

    for number, text in enumerate(STRINGS):
        target = make_user()
        _record(
            statuses, mo.post(f"/moderation/users/{target.id}/notes", data={"body": text}), text
        )
        kind = ("silence", "suspend", "ban")[number % 3]
        _record(
            statuses,
            admin.post(
                f"/moderation/users/{target.id}/sanctions",
                data={"kind": kind, "days": "" if kind == "ban" else "3", "reason": text},
            ),
            text,
        )
        with app.app_context():
            sanction = db.session.execute(
                db.select(Sanction).filter_by(user_id=target.id)
            ).scalar_one_or_none()
        if sanction is not None and number % 2 == 0:
            victim = client_for(target)
            _record(
                statuses,
                victim.post(f"/moderation/sanctions/{sanction.id}/appeal", data={"message": text}),
                text,
            )
        elif sanction is not None:  # a pending appeal would stop the lift: lift the others
            _record(
                statuses,
                admin.post(f"/moderation/sanctions/{sanction.id}/lift", data={"reason": text}),
                text,
            )
        if number < RENDER_AT_MOST:
            _pages_clean(mo, [f"/moderation/users/{target.id}"])
    _statuses_ok(statuses)
    assert len(statuses.get(303, [])) >= 2.5 * len(STRINGS) * 0.9, {
        k: len(v) for k, v in statuses.items()
    }


def test_every_hostile_string_as_a_watched_word_then_posted(app, cast, client_for):
    mo, ada = client_for(cast.moderator), client_for(cast.author)
    statuses: dict[int, list[str]] = {}
    for number, text in enumerate(STRINGS):
        action = ("hold", "flag", "block")[number % 3]
        _record(
            statuses,
            mo.post("/moderation/watched-words", data={"phrase": text, "action": action}),
            text,
        )
    assert len(statuses.get(303, [])) >= len(STRINGS) * 0.5, {
        k: len(v) for k, v in statuses.items()
    }
    _pages_clean(mo, ["/moderation/watched-words"])
    # Every phrase is now matched against every new post: no pattern may break it.
    for text in STRINGS:
        _record(
            statuses,
            ada.post(
                THREAD + "/posts", data={"body": text, "idempotency_key": secrets.token_urlsafe(24)}
            ),
            text,
        )
    _statuses_ok(statuses)
    _pages_clean(mo, ["/moderation/queue"])


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_every_hostile_string_in_an_imported_course_file(
    app, runner, client, login, make_user, tmp_path, suffix
):
    import json

    from forum.courses.models import Course

    def toml_string(value: str) -> str:
        # A TOML basic string: JSON's escapes, with every control character as \\uXXXX.
        escaped = json.dumps(value, ensure_ascii=False)
        return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", escaped)

    outcomes = {"imported": 0, "refused": 0}
    for number, text in enumerate(STRINGS):
        data = {
            "slug": f"hostile-{number}",
            "title": text,
            "intro": text,
            "modules": [
                {
                    "slug": "m",
                    "title": text,
                    "journal_prompt": text,
                    "prompts": [{"slug": "p", "title": text, "body": text}],
                }
            ],
        }
        path = tmp_path / f"course-{number}{suffix}"
        if suffix == ".json":
            path.write_text(json.dumps(data), encoding="utf-8")
        else:
            value = toml_string(text)
            path.write_text(
                f'slug = "{data["slug"]}"\ntitle = {value}\nintro = {value}\n'
                f'[[modules]]\nslug = "m"\ntitle = {value}\n'
                f"journal_prompt = {value}\n"
                f'[[modules.prompts]]\nslug = "p"\ntitle = {value}\nbody = {value}\n',
                encoding="utf-8",
            )
        result = runner.invoke(args=["course", "import", str(path)])
        # A clear refusal (click's exit code 1 or 2 with a message) or an import; no traceback.
        if result.exit_code == 0:
            outcomes["imported"] += 1
        else:
            assert isinstance(result.exception, SystemExit), (text, result.output, result.exception)
            assert result.output.strip(), text
            outcomes["refused"] += 1
    assert outcomes["imported"] >= len(STRINGS) * 0.5, outcomes
    login(client, make_user())
    with app.app_context():
        slugs = list(db.session.execute(db.select(Course.slug)).scalars())
    paths = ["/"]
    for slug in slugs[:RENDER_AT_MOST]:
        paths += [f"/c/{slug}", f"/c/{slug}/m", f"/c/{slug}/m/p", f"/journal/c/{slug}/m/new"]
    _pages_clean(client, paths)
