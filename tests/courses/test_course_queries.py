"""Course and module pages run a fixed number of statements, whatever the number of
modules or prompts, and an anonymous reader's second visit is served from the cache."""

from __future__ import annotations

import pytest

from forum.accounts.models import Role
from forum.courses.services import import_course
from forum.extensions import db
from tests.query_count import statements


def _course(slug: str, modules: int, prompts: int) -> dict:
    return {
        "slug": slug,
        "title": f"Course {slug}",
        "modules": [
            {
                "slug": f"m{m}",
                "title": f"Module {m}",
                "intro": "About this module.\n\nMore.",
                "prompts": [
                    {"slug": f"p{p}", "title": f"Prompt {p}", "body": "Think."}
                    for p in range(prompts)
                ],
            }
            for m in range(modules)
        ],
    }


def _count(app, client, path: str) -> tuple[int, list[str]]:
    with statements(app) as seen:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(seen), seen


@pytest.fixture
def courses(app):
    with app.app_context():
        for size in (10, 200):
            import_course(_course(f"c{size}", modules=size, prompts=1))
            import_course(_course(f"m{size}", modules=1, prompts=size))
        db.session.commit()


@pytest.mark.parametrize("who", ["reader", "participant"])
def test_course_and_module_pages_cost_the_same_for_10_and_200_items(
    app, courses, who, make_user, login
):
    client = app.test_client()
    if who == "participant":
        login(client, make_user(Role.PARTICIPANT))
    for small_path, large_path in (("/c/c10", "/c/c200"), ("/c/m10/m0", "/c/m200/m0")):
        small_cold, _ = _count(app, client, small_path)
        small_warm, _ = _count(app, client, small_path)
        large_cold, seen_cold = _count(app, client, large_path)
        large_warm, seen_warm = _count(app, client, large_path)
        assert (large_cold, large_warm) == (small_cold, small_warm), (seen_cold, seen_warm)
        # Course: the course (its data version), then with its modules and their prompts'
        # ids; module: the module with its
        # course and data version, its prompts (a participant: also the person and their
        # module subscription).
        assert large_cold <= (4 if who == "reader" else 5), seen_cold
        if who == "reader":
            # From the cache: the data version only (the course page: the course row).
            assert large_warm == 1, seen_warm
    page = client.get("/c/m200/m0").get_data(as_text=True)
    assert page.count('class="card"') == 200


def test_the_course_list_costs_the_same_for_10_and_200_modules(app, courses):
    client = app.test_client()
    count, seen = _count(app, client, "/")
    assert count <= 2, seen
