"""Assigning facilitators to courses (admin page and CLI), the dashboard, the demo seed."""

from __future__ import annotations

from datetime import timedelta

from forum.accounts.models import Role, User
from forum.audit import AuditEntry
from forum.courses.models import Course
from forum.extensions import db
from forum.journals.models import JournalEntry
from forum.support.models import Concern, FacilitatorAssignment, SupportRequest, TriageItem
from forum.support.queue import percentile
from tests.journals import conftest as journal_fixtures
from tests.journals.conftest import text, write_entry

# The journal tests' fixtures (tests/support has no conftest of its own).
cast = journal_fixtures.cast
client_for = journal_fixtures.client_for


def _assigned(app) -> set[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(
            db.select(User.email, Course.slug)
            .join(FacilitatorAssignment, FacilitatorAssignment.user_id == User.id)
            .join(Course, FacilitatorAssignment.course_id == Course.id)
        )
        return {(email, slug) for email, slug in rows}


def test_cli_assigns_unassigns_and_lists(app, cast, runner):
    result = runner.invoke(args=["facilitators", "assign", "OUT@example.com", "allyship"])
    assert result.exit_code == 0, result.output
    assert ("out@example.com", "allyship") in _assigned(app)
    again = runner.invoke(args=["facilitators", "assign", "out@example.com", "allyship"])
    assert again.exit_code == 0
    listed = runner.invoke(args=["facilitators", "list"])
    assert "allyship\tout@example.com" in listed.output
    removed = runner.invoke(args=["facilitators", "unassign", "out@example.com", "allyship"])
    assert removed.exit_code == 0 and "no longer facilitates" in removed.output
    assert ("out@example.com", "allyship") not in _assigned(app)
    participant = runner.invoke(args=["facilitators", "assign", "otto@example.com", "allyship"])
    assert participant.exit_code != 0 and "facilitator role first" in participant.output
    unknown = runner.invoke(args=["facilitators", "assign", "nobody@example.com", "allyship"])
    assert unknown.exit_code != 0 and "no account" in unknown.output
    course = runner.invoke(args=["facilitators", "assign", "out@example.com", "nope"])
    assert course.exit_code != 0 and "no course" in course.output


def test_the_admin_page_assigns_and_removes(app, cast, client_for):
    admin = client_for(cast.admin)
    page = admin.get("/support/admin/facilitators")
    assert page.status_code == 200 and "Fay Facilitator" in text(page)
    response = admin.post(
        "/support/admin/facilitators", data={"email": "out@example.com", "course": "allyship"}
    )
    assert response.status_code == 303
    assert ("out@example.com", "allyship") in _assigned(app)
    refused = admin.post(
        "/support/admin/facilitators", data={"email": "otto@example.com", "course": "allyship"}
    )
    assert refused.status_code == 422 and "facilitator role first" in text(refused)
    with app.app_context():
        assignment_id = db.session.execute(
            db.select(FacilitatorAssignment.id)
            .join(User, FacilitatorAssignment.user_id == User.id)
            .where(User.email == "out@example.com", FacilitatorAssignment.course_id == 1)
        ).scalar_one()
        actions = set(db.session.execute(db.select(AuditEntry.action)).scalars())
        assert "support.facilitator_assigned" in actions
    assert admin.post(f"/support/admin/facilitators/{assignment_id}/remove").status_code == 303
    assert ("out@example.com", "allyship") not in _assigned(app)
    for user in (cast.facilitator, cast.moderator, cast.other):
        assert client_for(user).get("/support/admin/facilitators").status_code == 403


def test_percentiles_are_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.9) == 5.0
    values = [float(n) for n in range(1, 11)]
    assert percentile(values, 0.5) == 5.0
    assert percentile(values, 0.9) == 9.0


def test_the_dashboard_counts_waiting_items_and_response_times(app, cast, client_for):
    ada, fay = client_for(cast.author), client_for(cast.facilitator)
    flagged = write_entry(ada, "I can't cope with how much this is bringing back.")
    plain = write_entry(ada, "An ordinary reflection.")
    write_entry(ada, "Another ordinary reflection.")
    fay.post(f"/journal/entries/{flagged}/replies", data={"body": "Hi."})
    fay.post(f"/journal/entries/{plain}/replies", data={"body": "Hi."})
    with app.app_context():
        for item in db.session.execute(db.select(TriageItem)).scalars():
            if item.first_response_at is not None:
                hours = 3 if item.flagged else 30
                item.first_response_at = item.created_at + timedelta(hours=hours)
        db.session.commit()
    page = text(fay.get("/support/dashboard"))
    main = page[page.index("<main") :]
    assert "<svg" in main and "<script" not in main and "style=" not in main
    assert "Unanswered entry 1" in page  # in the chart's accessible title
    assert "3 hours" in page and "1 day" in page
    assert client_for(cast.outsider).get("/support/dashboard").status_code == 200
    assert "Unanswered entry 0" in text(client_for(cast.outsider).get("/support/dashboard"))


def test_the_demo_seed_writes_each_tier_once(app, cast, make_user):
    from forum.journals.demo import seed_journals
    from forum.support.models import Rank

    with app.app_context():
        users = [
            make_user(Role.PARTICIPANT, "participant@example.com", "Pat"),
            make_user(Role.PARTICIPANT, "participant2@example.com", "Sam"),
            make_user(Role.FACILITATOR, "facilitator@example.com", "Fran"),
        ]
        course = db.session.get(Course, cast.course_id)
        # A post for the concern to be about.
        from forum.threads.services import create_post

        create_post(users[1], course.modules[0].prompts[0], "A calm public reflection.")
        assert seed_journals(users, course) == 4
        db.session.commit()
        assert seed_journals({u.email: u for u in users}, course) == 0
        db.session.commit()
        assert db.session.execute(db.select(db.func.count(JournalEntry.id))).scalar_one() == 4
        ranks = set(db.session.execute(db.select(TriageItem.rank)).scalars())
        assert {Rank.CRISIS, Rank.TODAY, Rank.NEEDS_SUPPORT} <= ranks
        assert db.session.execute(db.select(db.func.count(Concern.id))).scalar_one() == 1
        assert db.session.execute(db.select(db.func.count(SupportRequest.id))).scalar_one() == 1
        assert ("facilitator@example.com", "allyship") in {
            (a.user.email, a.course.slug)
            for a in db.session.execute(db.select(FacilitatorAssignment)).scalars()
        }
