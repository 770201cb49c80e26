"""Fixtures for notifications: a real SMTP sink (aiosmtpd on loopback), a course, people."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from forum.courses.models import Prompt
from forum.courses.services import import_course
from forum.extensions import db
from tests.conftest import make_test_app
from tests.notifications.helpers import COURSE, CourseIds, SMTPSink, add_person


@pytest.fixture
def smtp_sink():
    sink = SMTPSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def app_config(smtp_sink):
    return {
        "NOTIFICATIONS_EDIT_WINDOW": 0,
        # The worker's digest job would run in every cycle after 07:00 UTC and make the
        # tests depend on the hour: digests are queued by `flask notifications digest` (and
        # the job is tested on its own).
        "NOTIFICATIONS_DIGEST_HOUR": None,
        "NOTIFICATIONS_TRANSPORT": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_sink.port,
        "MAIL_TIMEOUT": 5,
    }


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


@pytest.fixture
def other_app(database_url, _schema):
    """Another app on the same database with different config; its pool is closed after."""
    apps = []

    def _make(**overrides):
        apps.append(make_test_app(database_url, **overrides))
        return apps[-1]

    yield _make
    for extra in apps:
        with extra.app_context():
            db.session.remove()
            db.engine.dispose()
