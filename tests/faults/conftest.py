"""Fixtures for fault tests: the small course and a few people (as in notifications')."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from forum.courses.models import Prompt
from forum.courses.services import import_course
from forum.extensions import db
from tests.notifications.helpers import COURSE, CourseIds, add_person


@pytest.fixture
def course(app) -> CourseIds:
    with app.app_context():
        import_course(COURSE)
        db.session.commit()
        prompts = {p.slug: p for p in db.session.execute(select(Prompt)).scalars()}
        first = prompts["first-memory"]
        return CourseIds(
            prompt_id=first.id,
            other_prompt_id=prompts["the-room"].id,
            module_id=first.module_id,
            other_module_prompt_id=prompts["an-account"].id,
        )


@pytest.fixture
def people(app):
    """An author and three readers (confirmed participants)."""
    names = {"author": "Ada Author", "bea": "Bea", "cal": "Cal", "dee": "Dee"}
    with app.app_context():
        people = {key: add_person(f"{key}@example.com", name) for key, name in names.items()}
        db.session.commit()
        for user in people.values():
            db.session.refresh(user)
        return people
