"""Fixtures for journals and support: two courses, one person per role, helpers to write."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from forum.accounts.models import Role, User
from forum.audit import AuditEntry
from forum.courses.models import Course, Prompt
from forum.courses.services import import_course
from forum.extensions import db
from forum.support.models import FacilitatorAssignment
from tests.course_data import SMALL_COURSE

MODULE_NEW = "/journal/c/allyship/noticing/new"
THREAD = "/c/allyship/noticing/first-memory"

OTHER_COURSE = {
    "slug": "listening-well",
    "title": "Listening well",
    "intro": "Another course.",
    "modules": [
        {
            "slug": "hearing",
            "title": "Hearing",
            "journal_prompt": "What did you hear?",
            "prompts": [{"slug": "a-voice", "title": "A voice", "body": "Share one."}],
        }
    ],
}


@dataclass
class Cast:
    """Everyone, by role; ``author`` writes the entries."""

    author: User
    other: User  # another participant
    moderator: User
    outsider: User  # facilitator of the other course
    facilitator: User  # facilitator of this course
    facilitator2: User  # a second facilitator of this course
    admin: User
    course_id: int
    other_course_id: int
    prompt_id: int


@pytest.fixture
def cast(app, make_user) -> Cast:
    with app.app_context():
        import_course(SMALL_COURSE)
        import_course(OTHER_COURSE)
        db.session.commit()
        course = db.session.execute(db.select(Course).filter_by(slug="allyship")).scalar_one()
        other_course = db.session.execute(
            db.select(Course).filter_by(slug="listening-well")
        ).scalar_one()
        prompt = db.session.execute(db.select(Prompt).filter_by(slug="first-memory")).scalar_one()
        people = Cast(
            author=make_user(Role.PARTICIPANT, "ada@example.com", "Ada Learner"),
            other=make_user(Role.PARTICIPANT, "otto@example.com", "Otto Other"),
            moderator=make_user(Role.MODERATOR, "mo@example.com", "Mo Moderator"),
            outsider=make_user(Role.FACILITATOR, "out@example.com", "Olu Outsider"),
            facilitator=make_user(Role.FACILITATOR, "fay@example.com", "Fay Facilitator"),
            facilitator2=make_user(Role.FACILITATOR, "finn@example.com", "Finn Facilitator"),
            admin=make_user(Role.ADMIN, "ann@example.com", "Ann Admin"),
            course_id=course.id,
            other_course_id=other_course.id,
            prompt_id=prompt.id,
        )
        db.session.add_all(
            [
                FacilitatorAssignment(user_id=people.facilitator.id, course_id=course.id),
                FacilitatorAssignment(user_id=people.facilitator2.id, course_id=course.id),
                FacilitatorAssignment(user_id=people.outsider.id, course_id=other_course.id),
            ]
        )
        db.session.commit()
        for user in (
            people.author, people.other, people.moderator, people.outsider,
            people.facilitator, people.facilitator2, people.admin,
        ):  # fmt: skip
            db.session.refresh(user)
            db.session.expunge(user)
    return people


@pytest.fixture
def client_for(app, login):
    """A logged-in test client for a user (None: an anonymous visitor)."""

    def _client(user: User | None):
        client = app.test_client()
        if user is not None:
            login(client, user)
        return client

    return _client


def write_entry(client, body: str, new_url: str = MODULE_NEW) -> int:
    response = client.post(new_url, data={"body": body})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    match = re.fullmatch(r"/journal/entries/(\d+)", urlsplit(response.headers["Location"]).path)
    assert match, response.headers["Location"]
    return int(match.group(1))


def write_post(client, body: str, thread: str = THREAD) -> int:
    response = client.post(thread + "/posts", data={"body": body})
    assert response.status_code == 303, response.status_code
    match = re.fullmatch(r"/posts/(\d+)", urlsplit(response.headers["Location"]).path)
    assert match
    return int(match.group(1))


def view_rows(app, entry_id: int | None = None) -> int:
    with app.app_context():
        query = db.select(db.func.count(AuditEntry.id)).where(AuditEntry.action == "journal.viewed")
        if entry_id is not None:
            query = query.where(AuditEntry.subject_id == entry_id)
        return db.session.execute(query).scalar_one()


def text(response) -> str:
    import html

    return html.unescape(response.get_data(as_text=True))
