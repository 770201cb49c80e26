"""The facilitators' queue: its order, claiming, state changes, filters, scope, races and
a fixed number of statements whatever its length."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from forum.accounts.models import User
from forum.courses.models import Module
from forum.database import utcnow
from forum.extensions import db
from forum.journals import services as journals
from forum.service_errors import Conflict
from forum.support import services
from forum.support.models import Rank, SubjectType, TriageItem, TriageState
from forum.support.queue import QueueFilters, queue_page
from tests.journals import conftest as journal_fixtures
from tests.journals.conftest import text, write_entry, write_post
from tests.query_count import statements

# The journal tests' fixtures (tests/support has no conftest of its own).
cast = journal_fixtures.cast
client_for = journal_fixtures.client_for

OTHER_THREAD = "/c/allyship/listening/an-account"


def _queue(app, user: User, **filters) -> list[TriageItem]:
    with app.app_context():
        actor = db.session.get(User, user.id)
        page = queue_page(actor, QueueFilters(**filters), 1)
        items = page.items
        db.session.expunge_all()
        return items


def _item(app, subject_type: SubjectType, subject_id: int) -> TriageItem:
    with app.app_context():
        item = services.item_for(subject_type, subject_id)
        assert item is not None
        db.session.expunge(item)
        return item


@pytest.fixture
def mixed(app, cast, client_for):
    """One of each kind of item, written oldest first in this order."""
    ada = client_for(cast.author)
    otto = client_for(cast.other)
    made = {}
    made["ordinary_old"] = write_entry(ada, "An ordinary reflection on noticing.")
    made["support_signal"] = write_entry(otto, "I can't cope with how much this is bringing back.")
    made["today"] = write_entry(otto, "Could we talk about the reading?")
    otto.post(f"/journal/entries/{made['today']}/support", data={"urgency": "today"})
    made["crisis"] = write_entry(ada, "Everyone would be better off without me.")
    post = write_post(ada, "A calm public reflection.")
    otto.post(f"/support/posts/{post}/concern", data={"note": ""})
    made["concern_post"] = post
    made["quiet_post"] = write_post(otto, "Another calm public reflection.")
    made["now"] = write_entry(otto, "Something else entirely.")
    otto.post(f"/journal/entries/{made['now']}/support", data={"urgency": "now"})
    made["ordinary_new"] = write_entry(otto, "Another ordinary reflection.")
    return made


def test_the_queue_is_ordered_by_need_then_oldest_first(app, cast, mixed):
    items = _queue(app, cast.facilitator)
    got = [(i.subject_type, i.subject_id) for i in items]
    entry = SubjectType.JOURNAL_ENTRY
    assert got == [
        (entry, mixed["now"]),
        (entry, mixed["crisis"]),
        (entry, mixed["today"]),
        (entry, mixed["support_signal"]),
        (SubjectType.POST, mixed["concern_post"]),
        (entry, mixed["ordinary_old"]),
        (entry, mixed["ordinary_new"]),
    ]
    assert [i.rank for i in items] == [0, 1, 2, 3, 3, 4, 4]


def test_the_queue_page_shows_labels_waiting_times_and_no_text(app, cast, client_for, mixed):
    page = text(client_for(cast.facilitator).get("/support/queue"))
    assert page.index("Asked for help now") < page.index("Crisis signal")
    assert page.index("Crisis signal") < page.index("Asked for support today")
    assert "Waiting under a minute" in page
    assert "better off without me" not in page and "ordinary reflection" not in page
    assert "1 concern" in page


def test_withdrawing_a_request_moves_the_item_back_down(app, cast, client_for, mixed):
    otto = client_for(cast.other)
    request_page = otto.get(f"/journal/entries/{mixed['now']}")
    assert "I no longer need this" in text(request_page)
    with app.app_context():
        from forum.support.models import SupportRequest

        request_id = db.session.execute(
            db.select(SupportRequest.id).filter_by(subject_id=mixed["now"], urgency="now")
        ).scalar_one()
    assert otto.post(f"/support/requests/{request_id}/withdraw").status_code == 303
    assert _item(app, SubjectType.JOURNAL_ENTRY, mixed["now"]).rank == Rank.UNANSWERED


def test_a_post_whose_only_request_is_withdrawn_leaves_the_queue(app, cast, client_for):
    ada = client_for(cast.author)
    post = write_post(ada, "A calm public reflection.")
    response = ada.post(f"/support/posts/{post}/request", data={"urgency": "when_you_can"})
    assert response.status_code == 303
    item = _item(app, SubjectType.POST, post)
    assert item.rank == Rank.NEEDS_SUPPORT and item.state == TriageState.WAITING
    request_id = int(response.headers["Location"].rsplit("/", 1)[1])
    ada.post(f"/support/requests/{request_id}/withdraw")
    assert _item(app, SubjectType.POST, post).state == TriageState.CLOSED
    assert _queue(app, cast.facilitator) == []


def test_claiming_shows_the_holder_and_blocks_others_until_it_expires(app, cast, client_for):
    entry = write_entry(client_for(cast.author), "An ordinary reflection.")
    item = _item(app, SubjectType.JOURNAL_ENTRY, entry)
    fay, finn = client_for(cast.facilitator), client_for(cast.facilitator2)
    assert fay.post(f"/support/queue/{item.id}/claim").status_code == 303
    refused = finn.post(f"/support/queue/{item.id}/claim")
    assert refused.status_code == 409
    assert "Fay Facilitator is already looking after this" in text(refused)
    assert "Claimed by Fay Facilitator" in text(finn.get("/support/queue"))
    assert "Claimed by you" in text(fay.get("/support/queue"))

    with app.app_context():
        later = utcnow() + timedelta(minutes=app.config["SUPPORT_CLAIM_MINUTES"] + 1)
        actor = db.session.get(User, cast.facilitator2.id)
        row = db.session.get(TriageItem, item.id)
        services.claim_item(actor, row, now=later)  # the expired claim can be taken
        db.session.commit()
        assert db.session.get(TriageItem, item.id).claimed_by_id == cast.facilitator2.id
    # Letting go makes it free for anyone at once.
    assert finn.post(f"/support/queue/{item.id}/release").status_code == 303
    assert fay.post(f"/support/queue/{item.id}/claim").status_code == 303


def test_resolving_replying_and_new_writing_change_the_state(app, cast, client_for):
    ada, fay = client_for(cast.author), client_for(cast.facilitator)
    entry = write_entry(ada, "An ordinary reflection.")
    item = _item(app, SubjectType.JOURNAL_ENTRY, entry)
    response = fay.post(f"/support/queue/{item.id}/resolve", data={"resolution": "acknowledged"})
    assert response.status_code == 303
    done = _item(app, SubjectType.JOURNAL_ENTRY, entry)
    assert done.state == TriageState.ACKNOWLEDGED and done.first_response_at is not None
    assert _queue(app, cast.facilitator) == []
    assert [i.id for i in _queue(app, cast.facilitator, state="acknowledged")] == [item.id]
    # Resolving twice: someone got there first.
    again = fay.post(f"/support/queue/{item.id}/resolve", data={"resolution": "acknowledged"})
    assert again.status_code == 409

    # The learner edits: back in the queue.
    ada.post(f"/journal/entries/{entry}/edit", data={"body": "Changed my mind."})
    assert _item(app, SubjectType.JOURNAL_ENTRY, entry).state == TriageState.WAITING
    # A reply answers it, and marks "edited since reply" when the learner edits after.
    fay.post(f"/journal/entries/{entry}/replies", data={"body": "Thank you."})
    replied = _item(app, SubjectType.JOURNAL_ENTRY, entry)
    assert replied.state == TriageState.ANSWERED
    assert replied.first_response_at == done.first_response_at  # the first one stays
    ada.post(f"/journal/entries/{entry}/edit", data={"body": "Changed it again."})
    edited = _item(app, SubjectType.JOURNAL_ENTRY, entry)
    assert edited.state == TriageState.WAITING and edited.edited_since_reply
    assert "edited since reply" in text(fay.get("/support/queue"))
    assert "Edited since your last reply" in text(fay.post(f"/journal/entries/{entry}/open"))
    # The learner answering a reply puts it back too.
    fay.post(f"/journal/entries/{entry}/replies", data={"body": "Noted."})
    ada.post(f"/journal/entries/{entry}/replies", data={"body": "Thanks!"})
    assert _item(app, SubjectType.JOURNAL_ENTRY, entry).state == TriageState.WAITING


def test_an_unknown_resolution_is_refused(app, cast, client_for):
    entry = write_entry(client_for(cast.author), "An ordinary reflection.")
    item = _item(app, SubjectType.JOURNAL_ENTRY, entry)
    response = client_for(cast.facilitator).post(
        f"/support/queue/{item.id}/resolve", data={"resolution": "deleted"}
    )
    assert response.status_code == 422


def test_filters_by_module_and_state(app, cast, client_for):
    ada = client_for(cast.author)
    entry = write_entry(ada, "An ordinary reflection.")
    post = write_post(ada, "I can't cope anymore.", thread=OTHER_THREAD)
    with app.app_context():
        listening = db.session.execute(
            db.select(Module.id).filter_by(slug="listening")
        ).scalar_one()
    assert {i.subject_id for i in _queue(app, cast.facilitator)} == {entry, post}
    only = _queue(app, cast.facilitator, module_id=listening)
    assert [(i.subject_type, i.subject_id) for i in only] == [(SubjectType.POST, post)]
    page = text(client_for(cast.facilitator).get(f"/support/queue?module={listening}"))
    assert "Module 2: Listening" in page and "Module 1: Noticing · journal entry" not in page
    assert client_for(cast.facilitator).get("/support/queue?state=nonsense").status_code == 404
    assert client_for(cast.facilitator).get("/support/queue?module=x").status_code == 404


def test_each_facilitator_sees_their_courses_and_admins_see_all(app, cast, client_for):
    entry = write_entry(client_for(cast.author), "An ordinary reflection.")
    assert [i.subject_id for i in _queue(app, cast.facilitator)] == [entry]
    assert [i.subject_id for i in _queue(app, cast.admin)] == [entry]
    assert _queue(app, cast.outsider) == []
    assert client_for(cast.moderator).get("/support/queue").status_code == 403
    assert client_for(cast.other).get("/support/queue").status_code == 403


def test_two_facilitators_claiming_at_the_same_moment_one_wins(app, cast, client_for):
    entry = write_entry(client_for(cast.author), "An ordinary reflection.")
    item_id = _item(app, SubjectType.JOURNAL_ENTRY, entry).id
    barrier = threading.Barrier(2)
    results: dict[int, str] = {}

    def attempt(user_id: int) -> None:
        with app.app_context():
            actor = db.session.get(User, user_id)
            row = db.session.get(TriageItem, item_id)  # both transactions are open now
            if db.engine.dialect.name != "postgresql":
                db.session.commit()  # SQLite: the second writer waits for the first
            barrier.wait(timeout=10)
            try:
                services.claim_item(actor, row)
                db.session.commit()
                results[user_id] = "won"
            except Conflict:
                db.session.rollback()
                results[user_id] = "lost"
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=attempt, args=(u.id,))
        for u in (cast.facilitator, cast.facilitator2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results.values()) == ["lost", "won"]
    winner = next(uid for uid, result in results.items() if result == "won")
    with app.app_context():
        assert db.session.get(TriageItem, item_id).claimed_by_id == winner


def _fill(app, cast, count: int) -> None:
    """``count`` entries from a few learners, some flagged, some claimed."""
    with app.app_context():
        author = db.session.get(User, cast.author.id)
        other = db.session.get(User, cast.other.id)
        fay = db.session.get(User, cast.facilitator.id)
        module = db.session.execute(db.select(Module).filter_by(slug="noticing")).scalar_one()
        for n in range(count):
            writer = author if n % 2 else other
            body = "I feel overwhelmed." if n % 5 == 0 else f"Reflection number {n}."
            saved = journals.create_entry(writer, module, body)
            if n % 7 == 0:
                services.request_support(writer, saved.entry, "today")
            if n % 3 == 0:
                row = services.item_for(SubjectType.JOURNAL_ENTRY, saved.entry.id)
                assert row is not None
                services.claim_item(fay, row)
        db.session.commit()


def _queue_statements(app, client) -> list[str]:
    with statements(app) as seen:
        response = client.get("/support/queue")
        assert response.status_code == 200
    return seen


def test_the_queue_runs_the_same_statements_for_10_and_200_items(app, cast, client_for):
    client = client_for(cast.facilitator)
    _fill(app, cast, 10)
    small = _queue_statements(app, client)  # read and rendered: the fill changed the queue
    small_cached = _queue_statements(app, client)
    _fill(app, cast, 190)
    large = _queue_statements(app, client)
    large_cached = _queue_statements(app, client)
    page = text(client.get("/support/queue"))
    assert "200 items" in page and "Claimed by you" in page
    assert len(small) == len(large)
    assert len(large) <= 6, large
    # From the shared rendering: the user and the queue's version, no triage row read.
    assert len(small_cached) == len(large_cached)
    assert len(large_cached) <= 2, large_cached
    assert not [s for s in large_cached if "triage_items" in s]
    dashboard_page = client.get("/support/dashboard")
    assert dashboard_page.status_code == 200
