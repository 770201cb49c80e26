"""Journal text appears nowhere but in the journal itself: no other page, for any role,
and no other table (no outbox message, no audit detail, no queue row) holds it."""

from __future__ import annotations

import pytest
from sqlalchemy import JSON, String, Text, select

from forum.extensions import db
from forum.support.models import TriageItem
from tests.journals.conftest import THREAD, text, write_entry, write_post

ENTRY_MARKER = "marigold-quartz-5521"
REPLY_MARKER = "saffron-basalt-9043"
ANSWER_MARKER = "cobalt-fennel-3318"
MARKERS = (ENTRY_MARKER, REPLY_MARKER, ANSWER_MARKER)
# Tables that may hold journal writing: the journal's own.
JOURNAL_TABLES = {"journal_entries", "journal_replies"}


@pytest.fixture
def written(app, cast, client_for):
    """An entry with a crisis phrase, a help-now request, a reply and an answer; a post
    with a request and a concern, so every part of the queue has something in it."""
    ada = client_for(cast.author)
    entry_id = write_entry(
        ada, f"{ENTRY_MARKER} Lately I keep thinking everyone would be better off without me."
    )
    ada.post(f"/journal/entries/{entry_id}/support", data={"urgency": "now"})
    fay = client_for(cast.facilitator)
    fay.post(f"/journal/entries/{entry_id}/open")
    fay.post(f"/journal/entries/{entry_id}/replies", data={"body": f"{REPLY_MARKER} I'm here."})
    ada.post(f"/journal/entries/{entry_id}/replies", data={"body": f"{ANSWER_MARKER} Thanks."})
    ada.post(f"/journal/entries/{entry_id}/edit", data={"body": f"{ENTRY_MARKER} Edited."})
    post_id = write_post(ada, "A public reflection. I can't cope anymore.")
    ada.post(f"/support/posts/{post_id}/request", data={"urgency": "today"})
    client_for(cast.other).post(f"/support/posts/{post_id}/concern", data={"note": "Worried."})
    with app.app_context():
        item_ids = list(db.session.execute(select(TriageItem.id)).scalars())
        from forum.support.models import SupportRequest

        request_ids = list(db.session.execute(select(SupportRequest.id)).scalars())
    return {"entry": entry_id, "post": post_id, "items": item_ids, "requests": request_ids}


def _pages(app, written) -> list[str]:
    """Every GET page of the app that isn't one of the journal's own."""
    pages = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.endpoint == "static":
            continue
        if rule.endpoint == "journals.my_journal":
            continue  # the author's own list is the journal; others' are checked below
        pages.append(rule.rule)
    post = written["post"]
    pages += [
        "/c/allyship",
        "/c/allyship/noticing",
        THREAD,
        f"/posts/{post}/reply",
        f"/support/posts/{post}/concern",
        f"/support/posts/{post}/request",
        "/support/queue?state=done",
        "/support/queue?state=answered",
        "/support/queue?module=1",
        "/journal/c/allyship/noticing/new",
    ]
    pages += [f"/support/queue/{item}" for item in written["items"]]
    pages += [f"/support/requests/{request}" for request in written["requests"]]
    return pages


ROLES = ("anonymous", "other", "moderator", "outsider", "facilitator", "admin", "author")


def test_no_page_outside_the_journal_shows_its_text(app, cast, client_for, written):
    pages = _pages(app, written)
    assert "/support/queue" in pages and "/support/dashboard" in pages and "/" in pages
    users = {
        "anonymous": None,
        "other": cast.other,
        "moderator": cast.moderator,
        "outsider": cast.outsider,
        "facilitator": cast.facilitator,
        "admin": cast.admin,
        "author": cast.author,
    }
    reached = 0
    for role in ROLES:
        client = client_for(users[role])
        for page in pages:
            response = client.get(page)
            body = text(response)
            for marker in MARKERS:
                assert marker not in body, (role, page)
            reached += response.status_code == 200
        if role != "author":
            # Everyone's own journal page is theirs alone.
            body = text(client.get("/journal"))
            assert not any(marker in body for marker in MARKERS), role
    assert reached > 50  # the pages were really read, not all refused
    # And the queue did show the items (so the check above looked at a full queue).
    queue = text(client_for(cast.facilitator).get("/support/queue"))
    assert "Asked for support today" in queue and "Ada Learner" in queue


def test_the_journal_itself_does_show_it_to_its_readers(cast, client_for, written):
    own = text(client_for(cast.author).get("/journal"))
    assert ENTRY_MARKER in own and REPLY_MARKER in own
    opened = text(client_for(cast.admin).post(f"/journal/entries/{written['entry']}/open"))
    assert all(marker in opened for marker in MARKERS)


def test_no_other_table_holds_journal_text(app, written):
    """Every text column of every table but the journal's own: outbox, audit, queue..."""
    with app.app_context():
        tables = [t for t in db.metadata.sorted_tables if t.name not in JOURNAL_TABLES]
        checked = 0
        for table in tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            columns += [c for c in table.columns if isinstance(c.type, JSON)]
            if not columns:
                continue
            for row in db.session.execute(select(*columns)):
                for value in row:
                    for marker in MARKERS:
                        assert marker not in str(value), table.name
                checked += 1
        assert checked > 0
        names = {t.name for t in tables}
        if "outbox_messages" in names:  # said twice, because it is the one that matters most
            outbox = db.metadata.tables["outbox_messages"]
            for row in db.session.execute(select(outbox)).mappings():
                assert not any(m in str(v) for v in row.values() for m in MARKERS)
