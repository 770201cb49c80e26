"""Course and module pages: anyone can read them, and they say where the writing is."""

from __future__ import annotations

import html
import re

import pytest

from forum.courses import DEMO_COURSE_FILE
from forum.courses.services import import_course, read_course_file
from forum.extensions import db
from forum.threads.services import create_post

COURSE = {
    "slug": "allyship",
    "title": "Allyship basics",
    "intro": "A short course.\n\nSecond paragraph of the intro.",
    "modules": [
        {
            "slug": "noticing",
            "title": "Module 1: Noticing",
            "intro": "Paying attention.",
            "journal_prompt": "What did you notice this week?",
            "prompts": [
                {"slug": "first-memory", "title": "A first memory", "body": "Share one."},
                {"slug": "the-room", "title": "Who is in the room?", "body": "Look around."},
            ],
        },
        {
            "slug": "listening",
            "title": "Module 2: Listening",
            "prompts": [{"slug": "an-account", "title": "An account <that> stayed"}],
        },
    ],
}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def course(app):
    with app.app_context():
        import_course(COURSE)
        db.session.commit()


def test_index_welcomes_and_lists_the_course(client, course):
    response = client.get("/")
    page = text(response)
    assert response.status_code == 200
    assert "<h1>Courses</h1>" in page
    assert '<a href="/c/allyship">Allyship basics</a>' in page
    assert "A short course." in page
    assert "2 modules" in page


def test_index_with_no_course_says_so(client):
    assert "There are no courses here yet" in text(client.get("/"))


def test_course_page_lists_modules_in_order(client, course):
    response = client.get("/c/allyship")
    page = text(response)
    assert response.status_code == 200
    assert "<h1>Allyship basics</h1>" in page
    assert "<p>Second paragraph of the intro.</p>" in page
    first = page.index('href="/c/allyship/noticing"')
    second = page.index('href="/c/allyship/listening"')
    assert first < second
    assert "2 reflection prompts" in page and "1 reflection prompt" in page


def test_module_page_lists_prompts_with_counts_and_activity(app, client, course, make_user):
    assert "No reflections yet" in text(client.get("/c/allyship/noticing"))
    author = make_user()
    with app.app_context():
        from forum.courses.models import Prompt

        prompt = db.session.execute(db.select(Prompt).filter_by(slug="first-memory")).scalar_one()
        author = db.session.merge(author)
        create_post(author, prompt, "One")
        create_post(author, prompt, "Two")
        db.session.commit()

    response = client.get("/c/allyship/noticing")
    page = text(response)
    assert response.status_code == 200
    assert "<h1>Module 1: Noticing</h1>" in page
    assert 'href="/c/allyship/noticing/first-memory"' in page
    assert 'href="/c/allyship/noticing/the-room"' in page
    assert "2 reflections" in page
    assert re.search(r'last one <time datetime="[^"]+">just now</time>', page)
    assert "What did you notice this week?" in page
    # Breadcrumb back to the course.
    assert 'href="/c/allyship"' in page


def test_titles_from_the_course_file_are_escaped(client, course):
    raw = client.get("/c/allyship/listening").get_data(as_text=True)
    assert "An account &lt;that&gt; stayed" in raw
    assert "<that>" not in raw


@pytest.mark.parametrize(
    "path",
    [
        "/c/nope",
        "/c/nope/noticing",
        "/c/allyship/nope",
        "/c/allyship/an-account",  # a prompt's slug is not a module's
        "/c/ALLYSHIP",
        "/c/allyship/..%2f..%2fetc%2fpasswd",
        "/c/" + "a" * 5000,
        "/c/%00",
        "/c/allyship/%00",
        "/c/allyship%0d%0aSet-Cookie:x=1",
        "/c/all\u202eyship",
    ],
)
def test_unknown_course_or_module_is_a_friendly_404(client, course, path):
    response = client.get(path)
    assert response.status_code == 404
    page = text(response)
    assert "We couldn't find that page" in page
    assert 'href="#main"' in page  # the site's own look, skip link included


def test_the_demo_course_renders_every_page(app, client):
    with app.app_context():
        report = import_course(read_course_file(DEMO_COURSE_FILE))
        db.session.commit()
        course = report.course
        paths = [f"/c/{course.slug}"]
        for module in course.modules:
            paths.append(f"/c/{course.slug}/{module.slug}")
            paths += [f"/c/{course.slug}/{module.slug}/{p.slug}" for p in module.prompts]
    assert len(paths) > 5
    for path in paths:
        assert client.get(path).status_code == 200, path
