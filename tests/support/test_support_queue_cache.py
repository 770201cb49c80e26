"""The rendered queue is shared by the facilitators of the same courses and cached under
the queue's data version: every change shows at the next read, each reader sees their
own claims, CSRF token and waiting times, and nobody sees another scope's rendering."""

from __future__ import annotations

import copy
import re
from datetime import timedelta

import pytest

from forum.accounts import services as accounts
from forum.accounts.models import User
from forum.courses.models import Course, Module
from forum.courses.services import import_course
from forum.database import utcnow
from forum.extensions import db
from forum.journals import services as journals
from forum.support import services
from forum.support.models import FacilitatorAssignment, SubjectType, SupportRequest
from tests.course_data import SMALL_COURSE
from tests.journals import conftest as journal_fixtures
from tests.journals.conftest import text, write_entry, write_post
from tests.query_count import statements

cast = journal_fixtures.cast
client_for = journal_fixtures.client_for


def _read(app, client) -> tuple[str, list[str]]:
    """The queue page's text, and the statements it ran."""
    with statements(app) as seen:
        response = client.get("/support/queue")
    assert response.status_code == 200
    return text(response), seen


def _cached(seen: list[str]) -> bool:
    return not [s for s in seen if "triage_items" in s]


def _item_id(app, subject_type: SubjectType, subject_id: int) -> int:
    with app.app_context():
        item = services.item_for(subject_type, subject_id)
        assert item is not None
        return item.id


def _rename(app, user: User, name: str) -> None:
    with app.app_context():
        accounts.change_display_name(db.session.get(User, user.id), name)
        db.session.commit()


def test_facilitators_of_a_course_share_one_rendering_with_their_own_parts(app, cast, client_for):
    entry = write_entry(client_for(cast.author), "An ordinary reflection.")
    item_id = _item_id(app, SubjectType.JOURNAL_ENTRY, entry)
    fay, finn = client_for(cast.facilitator), client_for(cast.facilitator2)
    assert fay.post(f"/support/queue/{item_id}/claim").status_code == 303

    fay_page, fay_seen = _read(app, fay)
    assert not _cached(fay_seen)  # the claim changed the queue
    finn_page, finn_seen = _read(app, finn)
    assert _cached(finn_seen), finn_seen  # Fay's rendering, made Finn's
    assert "Claimed by you" in fay_page and "Let go" in fay_page
    assert "Claimed by Fay Facilitator" in finn_page and "Let go" not in finn_page
    claim_button = 'Claim<span class="visually-hidden"> the item about Ada Learner'
    assert claim_button in finn_page and claim_button not in fay_page

    # Another scope never gets this rendering: Olu facilitates the other course only.
    outsider_page, _seen = _read(app, client_for(cast.outsider))
    assert "Ada Learner" not in outsider_page and "0 items" in outsider_page
    admin_page, _seen = _read(app, client_for(cast.admin))
    assert "Claimed by Fay Facilitator" in admin_page


def test_every_change_shows_at_the_next_read(app, cast, client_for):
    ada, otto = client_for(cast.author), client_for(cast.other)
    fay, finn = client_for(cast.facilitator), client_for(cast.facilitator2)

    def read() -> str:
        _first, _seen = _read(app, fay)  # shows (and clears) the last action's message
        again, seen = _read(app, fay)
        assert _cached(seen)  # warm: the next change must show through the cache
        return again

    assert "Nothing here right now." in read()
    entry = write_entry(ada, "An ordinary reflection.")
    assert "1 item." in read()
    item_id = _item_id(app, SubjectType.JOURNAL_ENTRY, entry)

    finn.post(f"/support/queue/{item_id}/claim")
    assert "Claimed by Finn Facilitator" in read()
    finn.post(f"/support/queue/{item_id}/release")
    assert "Claimed by" not in read()

    asking = write_entry(otto, "Could we talk?")
    otto.post(f"/journal/entries/{asking}/support", data={"urgency": "now"})
    page = read()
    assert page.index("Asked for help now") < page.index("Unanswered entry")
    with app.app_context():
        request_id = db.session.execute(
            db.select(SupportRequest.id).filter_by(subject_id=asking)
        ).scalar_one()
    otto.post(f"/support/requests/{request_id}/withdraw")
    assert "Asked for help now" not in read()

    asking_item = _item_id(app, SubjectType.JOURNAL_ENTRY, asking)
    fay.post(f"/support/queue/{asking_item}/resolve", data={"resolution": "acknowledged"})
    assert "1 item." in read()
    fay.post(f"/journal/entries/{entry}/replies", data={"body": "Thank you."})
    assert "Nothing here right now." in read()
    ada.post(f"/journal/entries/{entry}/edit", data={"body": "Changed my mind."})
    assert "edited since reply" in read()

    post = write_post(ada, "A calm public reflection.")
    otto.post(f"/support/posts/{post}/concern", data={"note": ""})
    assert "1 concern" in read()

    # Names: the learner's, and the facilitator's on a claim.
    _rename(app, cast.author, "Ada Renamed")
    page = read()
    assert "Ada Renamed" in page and "Ada Learner" not in page
    finn.post(f"/support/queue/{item_id}/claim")
    assert "Claimed by Finn Facilitator" in read()
    _rename(app, cast.facilitator2, "Finn Renamed")
    assert "Claimed by Finn Renamed" in read()

    # A module's title, changed by the course's import.
    changed = copy.deepcopy(SMALL_COURSE)
    old_title = changed["modules"][0]["title"]
    changed["modules"][0]["title"] = "Module 1: Noticing, retitled"
    with app.app_context():
        import_course(changed)
        db.session.commit()
    page = read()
    assert "Module 1: Noticing, retitled" in page and f"{old_title} ·" not in page

    # A new course to facilitate brings its items (and its modules, in the filter).
    write_entry(otto, "In the other course.", "/journal/c/listening-well/hearing/new")
    page = read()
    assert "2 items" in page and "Hearing" not in page
    with app.app_context():
        db.session.add(
            FacilitatorAssignment(user_id=cast.facilitator.id, course_id=cast.other_course_id)
        )
        db.session.commit()
    page = read()
    assert "3 items" in page and "Hearing · journal entry" in page


def test_waiting_times_are_counted_at_each_read(app, cast, client_for, monkeypatch):
    write_entry(client_for(cast.author), "An ordinary reflection.")
    fay = client_for(cast.facilitator)
    page, _seen = _read(app, fay)
    assert "Waiting under a minute" in page
    later = utcnow() + timedelta(hours=3, minutes=1)
    monkeypatch.setattr("forum.support.listing.utcnow", lambda: later)
    page, seen = _read(app, fay)
    assert _cached(seen)
    assert "Waiting 3 hours" in page


def test_a_module_filter_and_a_page_are_cached_apart(app, cast, client_for):
    ada = client_for(cast.author)
    write_entry(ada, "An ordinary reflection.")
    post = write_post(ada, "I can't cope anymore.", thread="/c/allyship/listening/an-account")
    fay = client_for(cast.facilitator)
    with app.app_context():
        listening = db.session.execute(
            db.select(Module.id).filter_by(slug="listening")
        ).scalar_one()
    everything = text(fay.get("/support/queue"))
    only = text(fay.get(f"/support/queue?module={listening}"))
    assert "2 items" in everything and "1 item." in only
    assert "· journal entry" in everything and "· journal entry" not in only
    assert f"/posts/{post}" in fay.get(f"/support/queue?module={listening}").get_data(True)
    assert fay.get("/support/queue?page=2").status_code == 404


@pytest.fixture
def with_csrf(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def _tokens(html: str) -> set[str]:
    return set(
        re.findall(r'<input id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)">', html)
    )


def test_each_reader_gets_their_own_csrf_token(app, cast, client_for, with_csrf):
    with app.app_context():
        author = db.session.get(User, cast.author.id)
        course = db.session.get(Course, cast.course_id)
        module = db.session.execute(
            db.select(Module).filter_by(course_id=course.id, slug="noticing")
        ).scalar_one()
        entry_id = journals.create_entry(author, module, "An ordinary reflection.").entry.id
        db.session.commit()
    item_id = _item_id(app, SubjectType.JOURNAL_ENTRY, entry_id)
    fay, finn = client_for(cast.facilitator), client_for(cast.facilitator2)
    fay_html = fay.get("/support/queue").get_data(as_text=True)
    with statements(app) as seen:
        finn_html = finn.get("/support/queue").get_data(as_text=True)
    assert _cached(seen)
    fay_tokens, finn_tokens = _tokens(fay_html), _tokens(finn_html)
    assert len(fay_tokens) == 1 and len(finn_tokens) == 1 and fay_tokens != finn_tokens
    rows = fay_html[fay_html.index('<ol class="queue"') : fay_html.index("</ol>")]
    assert rows.count(next(iter(fay_tokens))) == 4  # open, claim and two resolutions
    # The same field a form renders (the item page's forms are WTForms' own).
    item_html = fay.get(f"/support/queue/{item_id}").get_data(as_text=True)
    assert _tokens(item_html)
    # And it works.
    claimed = finn.post(
        f"/support/queue/{item_id}/claim", data={"csrf_token": next(iter(finn_tokens))}
    )
    assert claimed.status_code == 303
    assert finn.post(f"/support/queue/{item_id}/release").status_code == 400


def test_an_edit_shows_even_when_the_detector_fails(app, cast, client_for, monkeypatch):
    ada, fay = client_for(cast.author), client_for(cast.facilitator)
    entry = write_entry(ada, "An ordinary reflection.")
    fay.post(f"/journal/entries/{entry}/replies", data={"body": "Thank you."})
    page, _seen = _read(app, fay)
    assert "Nothing here right now." in page

    def broken(_text):
        raise RuntimeError("the detector is down")

    monkeypatch.setattr("forum.support.services.detect", broken)
    assert ada.post(f"/journal/entries/{entry}/edit", data={"body": "Changed."}).status_code == 303
    page, seen = _read(app, fay)
    assert not _cached(seen)
    assert "edited since reply" in page
