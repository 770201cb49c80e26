"""Importing courses from files, and the demo seed."""

from __future__ import annotations

import json

import pytest

from forum.accounts.models import User
from forum.courses import DEMO_COURSE_FILE
from forum.courses.models import Course, Module, Prompt
from forum.courses.services import CourseFileError, import_course, read_course_file
from forum.demo import DEMO_ACCOUNTS, read_sample_content
from forum.extensions import db
from forum.threads.services import create_post

COURSE = {
    "slug": "c1",
    "title": "Course one",
    "modules": [
        {
            "slug": "m1",
            "title": "Module one",
            "journal_prompt": "Write.",
            "prompts": [{"slug": "p1", "title": "Prompt one", "body": "Say."}],
        }
    ],
}


def _count(model) -> int:
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def test_demo_course_has_three_modules_with_prompts_and_journals(app_ctx):
    report = import_course(read_course_file(DEMO_COURSE_FILE))
    course = report.course
    assert len(course.modules) == 3
    for module in course.modules:
        assert 2 <= len(module.prompts) <= 3
        assert module.journal_prompt


def test_reimport_changes_nothing(app_ctx):
    import_course(read_course_file(DEMO_COURSE_FILE))
    db.session.commit()
    again = import_course(read_course_file(DEMO_COURSE_FILE))
    assert (again.created, again.updated) == (0, 0)


def test_reimport_updates_text_adds_prompts_and_keeps_posts(app_ctx, make_user):
    user = db.session.merge(make_user())
    import_course(COURSE)
    prompt = db.session.execute(db.select(Prompt).filter_by(slug="p1")).scalar_one()
    create_post(user, prompt, "My reflection")
    db.session.commit()

    changed = json.loads(json.dumps(COURSE))
    changed["title"] = "Course one, revised"
    changed["modules"][0]["prompts"] = [{"slug": "p2", "title": "Prompt two"}]  # p1 left out
    report = import_course(changed)
    db.session.commit()

    assert report.created == 1 and report.updated == 1
    assert db.session.execute(db.select(Course.title)).scalar_one() == "Course one, revised"
    slugs = set(db.session.execute(db.select(Prompt.slug)).scalars())
    assert slugs == {"p1", "p2"}  # nothing is deleted
    assert db.session.get(Prompt, prompt.id).post_count == 1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.update(slug="Bad Slug!"), "slug"),
        (lambda c: c.update(title=""), "'title' is required"),
        (lambda c: c.update(title=5), "must be text"),
        (lambda c: c["modules"].append(dict(c["modules"][0])), "share a slug"),
        (lambda c: c.update(modules="nope"), "list of tables"),
        (lambda c: c["modules"][0]["prompts"][0].update(title="x" * 300), "longer than"),
    ],
)
def test_bad_course_data_is_refused_with_a_reason_and_writes_nothing(app_ctx, mutate, message):
    data = json.loads(json.dumps(COURSE))
    mutate(data)
    with pytest.raises(CourseFileError, match=message):
        import_course(data)
    db.session.rollback()
    assert _count(Course) == 0 and _count(Module) == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.toml", b"title = [unclosed", "not valid TOML"),
        ("c.json", b"[1, 2]", "must be an object"),
        ("c.json", b"\xff\xfe\x00", "not valid JSON"),
        ("c.yaml", b"title: x", "must end in .toml or .json"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CourseFileError, match=message):
        read_course_file(path)


def test_cli_import_reports_and_fails_cleanly(runner, tmp_path, app):
    good = tmp_path / "course.json"
    good.write_text(json.dumps(COURSE))
    result = runner.invoke(args=["course", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "3 item(s) created" in result.output

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**COURSE, "slug": "../../etc"}))
    result = runner.invoke(args=["course", "import", str(bad)])
    assert result.exit_code != 0
    assert "slug" in result.output
    with app.app_context():
        assert _count(Course) == 1


def test_demo_seed_is_idempotent(runner, app):
    app.config["ENV"] = "development"
    # The five logins, and the participants who wrote the sample reflections.
    accounts = len(DEMO_ACCOUNTS) + len(read_sample_content().people)
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert f"{accounts} demo account(s) created" in first.output
    with app.app_context():
        users_after_first = _count(User)  # moderation's demo adds a brand-new spammer
        assert users_after_first >= accounts == 9
    second = runner.invoke(args=["demo", "seed"])
    assert "0 item(s) created, 0 updated. 0 demo account(s) created" in second.output
    with app.app_context():
        assert _count(User) == users_after_first
        assert _count(Prompt) == 8


def test_demo_seed_refuses_production(runner, app):
    app.config["ENV"] = "production"
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code != 0
    assert "refusing in production" in result.output
