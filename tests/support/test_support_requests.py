"""Asking for support, the crisis panel, the detector on posts and peers' concerns."""

from __future__ import annotations

import pytest

from forum.accounts.models import User
from forum.extensions import db
from forum.signals import (
    concern_raised,
    crisis_signal_detected,
    journal_replied,
    support_requested,
)
from forum.support.detector import Tier
from forum.support.models import (
    Concern,
    Rank,
    SubjectType,
    SupportSignal,
    TriageItem,
    TriageState,
)
from forum.threads.models import Post, PostStatus
from tests.journals import conftest as journal_fixtures
from tests.journals.conftest import THREAD, text, write_entry, write_post

# The journal tests' fixtures (tests/support has no conftest of its own).
cast = journal_fixtures.cast
client_for = journal_fixtures.client_for

CRISIS_TEXT = "Lately I keep thinking everyone would be better off without me."


@pytest.fixture
def caught(app):
    """Every journal/support signal sent during the test, as (name, kwargs)."""
    seen: list[tuple[str, dict]] = []
    pairs = [
        (support_requested, "support_requested"),
        (crisis_signal_detected, "crisis_signal_detected"),
        (journal_replied, "journal_replied"),
        (concern_raised, "concern_raised"),
    ]
    receivers = []
    for signal, name in pairs:

        def _receiver(_sender, _name=name, **kwargs):
            # Ids, not rows: the rows are gone with the request's session.
            snapshot = {k: getattr(v, "id", v) for k, v in kwargs.items()}
            if "reply" in kwargs:
                snapshot["reply_from_staff"] = kwargs["reply"].from_staff
            seen.append((_name, snapshot))

        signal.connect(_receiver, sender=app, weak=False)
        receivers.append((signal, _receiver))
    yield seen
    for signal, receiver in receivers:
        signal.disconnect(receiver, sender=app)


def _main(page: str) -> str:
    return page[page.index('<main id="main"') :]


def test_help_now_shows_crisis_resources_first_on_the_next_page(app, cast, client_for, caught):
    ada = client_for(cast.author)
    entry = write_entry(ada, "A hard week.")
    response = ada.post(
        f"/journal/entries/{entry}/support", data={"urgency": "now"}, follow_redirects=True
    )
    main = _main(text(response))
    first = main.index('class="support-panel"')
    assert first < main.index('class="flashes"') < main.index("<h1>")
    assert "Emergency services" in main[first:] and "If you need help right now" in main
    # Shown once: the next page starts with the entry again, the request still open.
    again = text(ada.get(f"/journal/entries/{entry}"))
    assert 'class="support-panel"' not in again and "I need help now" in again
    with app.app_context():
        item = db.session.execute(db.select(TriageItem)).scalar_one()
        assert item.rank == Rank.HELP_NOW and item.urgent_since is not None
    assert [name for name, _ in caught] == ["support_requested"]
    kwargs = caught[0][1]
    assert kwargs["urgency"] == "now" and kwargs["subject"] == entry


def test_a_crisis_entry_shows_the_panel_after_saving_and_is_signalled(
    app, cast, client_for, caught
):
    ada = client_for(cast.author)
    response = ada.post(
        "/journal/c/allyship/noticing/new", data={"body": CRISIS_TEXT}, follow_redirects=True
    )
    page = text(response)
    assert "You don't have to carry this alone" in page
    assert CRISIS_TEXT in page  # saved as written
    assert [name for name, _ in caught] == ["crisis_signal_detected"]
    assert caught[0][1]["author"] == cast.author.id


def test_a_crisis_post_is_published_untouched_and_ordered_first(app, cast, client_for, caught):
    ada = client_for(cast.author)
    response = ada.post(THREAD + "/posts", data={"body": CRISIS_TEXT}, follow_redirects=True)
    page = text(response)
    assert "You don't have to carry this alone" in page
    with app.app_context():
        post = db.session.execute(db.select(Post)).scalar_one()
        assert post.status == PostStatus.VISIBLE and post.body_source == CRISIS_TEXT
        signal = db.session.execute(db.select(SupportSignal)).scalar_one()
        assert signal.tier == Tier.CRISIS and signal.subject_type == SubjectType.POST
        assert signal.lexicon_version
        item = db.session.execute(db.select(TriageItem)).scalar_one()
        assert item.rank == Rank.CRISIS
    # Other readers see the post as usual, and no panel.
    other = text(client_for(cast.other).get(THREAD))
    assert CRISIS_TEXT in other and "support-panel" not in other
    assert [name for name, _ in caught] == ["crisis_signal_detected"]


def test_an_ordinary_post_stores_nothing(app, cast, client_for):
    write_post(client_for(cast.author), "A calm reflection on listening.")
    with app.app_context():
        assert db.session.execute(db.select(SupportSignal)).first() is None
        assert db.session.execute(db.select(TriageItem)).first() is None


def test_editing_a_flagged_post_updates_its_signal(app, cast, client_for):
    ada = client_for(cast.author)
    post = write_post(ada, "I can't cope anymore.")
    ada.post(f"/posts/{post}/edit", data={"body": CRISIS_TEXT})
    with app.app_context():
        item = db.session.execute(db.select(TriageItem)).scalar_one()
        assert item.rank == Rank.CRISIS
        tiers = db.session.execute(db.select(SupportSignal.tier).order_by(SupportSignal.id))
        assert list(tiers.scalars()) == [Tier.SUPPORT, Tier.CRISIS]


def test_support_links_under_posts(app, cast, client_for):
    post = write_post(client_for(cast.author), "A calm reflection.")
    own = text(client_for(cast.author).get(THREAD))
    assert f"/support/posts/{post}/request" in own
    assert f"/support/posts/{post}/concern" not in own
    other = text(client_for(cast.other).get(THREAD))
    assert f"/support/posts/{post}/concern" in other and "I'm worried about this person" in other
    assert f"/support/posts/{post}/request" not in other
    anonymous = text(client_for(None).get(THREAD))
    assert "/support/posts/" not in anonymous


def test_asking_for_support_on_someone_elses_post_is_404(app, cast, client_for):
    post = write_post(client_for(cast.author), "A calm reflection.")
    otto = client_for(cast.other)
    assert otto.get(f"/support/posts/{post}/request").status_code == 404
    assert otto.post(f"/support/posts/{post}/request", data={"urgency": "now"}).status_code == 404
    assert client_for(cast.author).get(f"/support/posts/{post}/concern").status_code == 404


def test_an_unknown_urgency_is_shown_again_with_a_message(app, cast, client_for):
    ada = client_for(cast.author)
    entry = write_entry(ada, "A hard week.")
    response = ada.post(f"/journal/entries/{entry}/support", data={"urgency": "whenever"})
    assert response.status_code == 422
    assert "Please choose how soon" in text(response)


def test_a_concern_goes_to_facilitators_only(app, cast, client_for, caught):
    ada, otto = client_for(cast.author), client_for(cast.other)
    post = write_post(ada, "A calm reflection.")
    response = otto.post(f"/support/posts/{post}/concern", data={"note": "Seems low lately."})
    assert response.status_code == 303
    assert [name for name, _ in caught] == ["concern_raised"]
    with app.app_context():
        item = db.session.execute(db.select(TriageItem)).scalar_one()
        assert item.rank == Rank.NEEDS_SUPPORT and item.open_concerns == 1
        item_id = item.id
    facilitator_view = text(client_for(cast.facilitator).get(f"/support/queue/{item_id}"))
    assert "Seems low lately." in facilitator_view and "Otto Other" in facilitator_view
    # Not the author, not moderators, not readers, not another course's facilitator.
    for user in (cast.author, cast.moderator, cast.outsider, None):
        client = client_for(user)
        assert client.get(f"/support/queue/{item_id}").status_code == 404
        assert "Seems low lately." not in text(client.get(THREAD))
    assert client_for(cast.moderator).get("/support/queue").status_code == 403


def test_one_open_concern_per_post_and_a_daily_limit(app, cast, client_for):
    ada, otto = client_for(cast.author), client_for(cast.other)
    posts = [write_post(ada, f"A calm reflection, number {n}.") for n in range(7)]
    assert otto.post(f"/support/posts/{posts[0]}/concern", data={}).status_code == 303
    again = otto.post(f"/support/posts/{posts[0]}/concern", data={})
    assert again.status_code == 422 and "already told the facilitators" in text(again)
    limit = app.config["SUPPORT_CONCERNS_PER_DAY"]
    assert limit == 5
    for post in posts[1:limit]:
        assert otto.post(f"/support/posts/{post}/concern", data={}).status_code == 303
    refused = otto.post(f"/support/posts/{posts[limit]}/concern", data={"note": "Please."})
    assert refused.status_code == 422 and "several concerns today" in text(refused)
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Concern.id))).scalar_one() == limit
    # Another reporter has a budget of their own.
    mo = client_for(cast.moderator)
    assert mo.post(f"/support/posts/{posts[limit]}/concern", data={}).status_code == 303


def test_a_resolved_concern_item_closes_its_concerns(app, cast, client_for):
    ada, otto = client_for(cast.author), client_for(cast.other)
    post = write_post(ada, "A calm reflection.")
    otto.post(f"/support/posts/{post}/concern", data={})
    with app.app_context():
        item_id = db.session.execute(db.select(TriageItem.id)).scalar_one()
    client_for(cast.facilitator).post(
        f"/support/queue/{item_id}/resolve", data={"resolution": "no_response_needed"}
    )
    with app.app_context():
        item = db.session.get(TriageItem, item_id)
        assert item.state == TriageState.NO_RESPONSE_NEEDED and item.open_concerns == 0
    # The same reporter may raise a new concern later.
    assert otto.post(f"/support/posts/{post}/concern", data={}).status_code == 303


def test_a_facilitator_reply_is_signalled_without_text_of_its_own(app, cast, client_for, caught):
    ada, fay = client_for(cast.author), client_for(cast.facilitator)
    entry = write_entry(ada, "A hard week.")
    fay.post(f"/journal/entries/{entry}/replies", data={"body": "I'm glad you wrote."})
    (name, kwargs), *_rest = caught
    assert name == "journal_replied"
    assert kwargs["entry"] == entry and kwargs["actor"] == cast.facilitator.id
    assert kwargs["reply_from_staff"]


def test_a_blank_reply_is_shown_again_without_the_entry(app, cast, client_for):
    ada, fay = client_for(cast.author), client_for(cast.facilitator)
    entry = write_entry(ada, "A private sentence about my week.")
    response = fay.post(f"/journal/entries/{entry}/replies", data={"body": "  "})
    assert response.status_code == 422
    page = text(response)
    assert "Please write something" in page and "A private sentence" not in page
    answered = ada.post(f"/journal/entries/{entry}/replies", data={"body": ""})
    assert answered.status_code == 422


def test_escalation_finds_unanswered_urgent_items(app, cast, client_for):
    from datetime import timedelta

    from forum.database import utcnow
    from forum.support import services

    ada = client_for(cast.author)
    entry = write_entry(ada, "A hard week.")
    ada.post(f"/journal/entries/{entry}/support", data={"urgency": "now"})
    write_entry(ada, "An ordinary reflection.")
    with app.app_context():
        minutes = app.config["SUPPORT_ESCALATE_AFTER_MINUTES"]
        assert minutes == 60
        assert services.overdue_urgent_items() == []
        later = utcnow() + timedelta(minutes=minutes + 1)
        (due,) = services.overdue_urgent_items(later)
        assert due.subject_id == entry
        services.mark_alerted(due, later)
        db.session.commit()
        assert services.overdue_urgent_items(later) == []
    # Once a facilitator responds it is no longer urgent.
    client_for(cast.facilitator).post(f"/journal/entries/{entry}/replies", data={"body": "Hi."})
    with app.app_context():
        item = services.item_for(SubjectType.JOURNAL_ENTRY, entry)
        assert item is not None and item.urgent_since is None and item.first_response_at


def test_the_resources_page_is_open_to_everyone(client):
    page = text(client.get("/support/resources"))
    assert "Emergency services" in page and "configure" in page.lower()


def test_the_facilitator_role_is_needed_for_an_assignment(app, cast):
    from forum.courses.models import Course
    from forum.service_errors import ServiceError
    from forum.support import services

    with app.app_context():
        user = db.session.get(User, cast.other.id)
        course = db.session.get(Course, cast.course_id)
        with pytest.raises(ServiceError):
            services.assign_facilitator(None, user, course)
