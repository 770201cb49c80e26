"""Who can reach a journal entry: for every journal URL and every role, exactly the author,
this course's facilitators and admins get through (each URL says which of them); every
other person, and every anonymous visitor, gets 404. Staff openings write exactly one
access row each; the author's own visits write none."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from forum.extensions import db
from forum.journals.models import JournalEntry
from forum.support.models import SubjectType, SupportRequest, TriageItem
from tests.journals.conftest import text, view_rows, write_entry

MARKER = "blue-heron-7731"
ROLES = ("anonymous", "other", "moderator", "outsider", "facilitator", "admin", "author")
NEVER = {"anonymous", "other", "moderator", "outsider"}
STAFF = {"facilitator", "admin"}
AUTHOR = {"author"}


@dataclass(frozen=True)
class Url:
    method: str
    path: str  # {entry}, {request}, {item} are filled in
    allowed: frozenset[str]
    data: tuple[tuple[str, str], ...] = ()
    # What an allowed role gets (200 page, 303 redirect).
    ok: tuple[int, ...] = (200, 303)


URLS = [
    Url("GET", "/journal/entries/{entry}", frozenset(AUTHOR | STAFF)),
    Url("POST", "/journal/entries/{entry}/open", frozenset(AUTHOR | STAFF)),
    Url("GET", "/journal/entries/{entry}/edit", frozenset(AUTHOR)),
    Url("POST", "/journal/entries/{entry}/edit", frozenset(AUTHOR), (("body", "Changed words."),)),
    Url("GET", "/journal/entries/{entry}/withdraw", frozenset(AUTHOR)),
    Url("POST", "/journal/entries/{entry}/replies", frozenset(AUTHOR | STAFF), (("body", "Hi"),)),
    Url("GET", "/journal/entries/{entry}/support", frozenset(AUTHOR)),
    Url("POST", "/journal/entries/{entry}/support", frozenset(AUTHOR), (("urgency", "today"),)),
    Url("GET", "/support/requests/{request}", frozenset(AUTHOR)),
    Url("POST", "/support/requests/{request}/withdraw", frozenset(AUTHOR)),
    Url("GET", "/support/queue/{item}", frozenset(STAFF)),
    # The second of two staff finds the item taken or dealt with: 409, past the door.
    Url("POST", "/support/queue/{item}/claim", frozenset(STAFF), ok=(303, 409)),
    Url("POST", "/support/queue/{item}/release", frozenset(STAFF)),
    # Last: it takes the item out of the queue.
    Url(
        "POST",
        "/support/queue/{item}/resolve",
        frozenset(STAFF),
        (("resolution", "acknowledged"),),
        ok=(303, 409),
    ),
    # POST /journal/entries/{entry}/withdraw is destructive: its own test below.
]


@pytest.fixture
def people(cast, client_for):
    return {
        "anonymous": client_for(None),
        "other": client_for(cast.other),
        "moderator": client_for(cast.moderator),
        "outsider": client_for(cast.outsider),
        "facilitator": client_for(cast.facilitator),
        "admin": client_for(cast.admin),
        "author": client_for(cast.author),
    }


def _ids(app, entry_id: int) -> dict[str, int]:
    with app.app_context():
        item = db.session.execute(
            db.select(TriageItem).filter_by(
                subject_type=SubjectType.JOURNAL_ENTRY, subject_id=entry_id
            )
        ).scalar_one()
        request = db.session.execute(
            db.select(SupportRequest).filter_by(subject_id=entry_id)
        ).scalar_one()
        return {"entry": entry_id, "item": item.id, "request": request.id}


def _call(client, url: Url, ids: dict[str, int]):
    path = url.path.format(**ids)
    if url.method == "GET":
        return client.get(path)
    return client.post(path, data=dict(url.data))


@pytest.mark.parametrize("url", URLS, ids=lambda u: f"{u.method} {u.path}")
def test_every_journal_url_for_every_role(app, cast, people, url):
    entry_id = write_entry(people["author"], f"Private words {MARKER}.")
    people["author"].post(f"/journal/entries/{entry_id}/support", data={"urgency": "today"})
    ids = _ids(app, entry_id)

    for role in ROLES:
        before = view_rows(app)
        response = _call(people[role], url, ids)
        written = view_rows(app) - before
        if role in url.allowed:
            assert response.status_code in url.ok, (role, response.status_code)
        else:
            assert response.status_code == 404, (role, url.path, response.status_code)
            assert MARKER not in text(response), role
            assert written == 0, role
        if role in STAFF and url.path.endswith("/open"):
            assert written == 1, role  # every staff opening: exactly one access row
            assert MARKER in text(response)
        else:
            assert written == 0, (role, url.path)


def test_only_the_author_can_withdraw_and_then_nobody_else_can_open(app, cast, people):
    entry_id = write_entry(people["author"], f"Private words {MARKER}.")
    for role in ROLES[:-1]:
        assert people[role].post(f"/journal/entries/{entry_id}/withdraw").status_code == 404
    response = people["author"].post(f"/journal/entries/{entry_id}/withdraw")
    assert response.status_code == 303
    with app.app_context():
        entry = db.session.get(JournalEntry, entry_id)
        assert MARKER not in entry.body_source and MARKER not in entry.body_html
    for role in ("facilitator", "admin"):
        assert people[role].get(f"/journal/entries/{entry_id}").status_code == 404
        assert people[role].post(f"/journal/entries/{entry_id}/open").status_code == 404
    assert people["author"].get(f"/journal/entries/{entry_id}").status_code == 200


def test_my_journal_and_new_entry_pages_are_404_for_anonymous_visitors(people):
    assert people["anonymous"].get("/journal").status_code == 404
    assert people["anonymous"].get("/journal/c/allyship/noticing/new").status_code == 404
    response = people["anonymous"].post("/journal/c/allyship/noticing/new", data={"body": "x"})
    assert response.status_code == 404


def test_an_entry_id_that_does_not_exist_is_404_for_staff_too(people):
    for role in ROLES:
        assert people[role].get("/journal/entries/999999").status_code == 404
        assert people[role].post("/journal/entries/999999/open").status_code == 404


def test_author_sees_who_opened_the_entry_and_when(app, cast, people):
    entry_id = write_entry(people["author"], "Something I noticed.")
    people["facilitator"].post(f"/journal/entries/{entry_id}/open")
    people["admin"].post(f"/journal/entries/{entry_id}/open")
    page = text(people["author"].get(f"/journal/entries/{entry_id}"))
    assert "Fay Facilitator (facilitator)" in page
    assert "Ann Admin (admin)" in page
    assert "Read by a facilitator" in page
    assert view_rows(app, entry_id) == 2


def test_a_facilitator_who_loses_the_role_loses_access(app, cast, people):
    from forum.accounts.models import Role, User

    entry_id = write_entry(people["author"], "Something I noticed.")
    with app.app_context():
        db.session.get(User, cast.facilitator.id).role = Role.MODERATOR
        db.session.commit()
    assert people["facilitator"].post(f"/journal/entries/{entry_id}/open").status_code == 404
