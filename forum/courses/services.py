"""Courses: importing them from a file, and finding them for the pages."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import contains_eager, selectinload

from forum.courses.models import Course, Module, Prompt
from forum.extensions import db
from forum.service_errors import ServiceError

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")
MAX_TITLE = 200
MAX_TEXT = 20_000


class CourseFileError(ServiceError):
    """The course file can't be imported; the message says where and why."""


@dataclass
class ImportReport:
    course: Course
    created: int = 0
    updated: int = 0

    def __str__(self) -> str:
        return (
            f"Course '{self.course.slug}': {self.created} item(s) created, {self.updated} updated."
        )


def read_course_file(path: Path) -> dict[str, Any]:
    """Parse a course file (.toml or .json) into plain data."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CourseFileError(f"Can't read {path}: {exc.strerror}") from exc
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(raw.decode("utf-8"))
        if path.suffix.lower() == ".json":
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict):
                raise CourseFileError("The top level of a course file must be an object.")
            return data
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise CourseFileError(f"{path.name} is not valid {path.suffix[1:].upper()}: {exc}") from exc
    raise CourseFileError("A course file must end in .toml or .json.")


def _text(data: dict, key: str, where: str, required: bool = False, limit: int = MAX_TEXT) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise CourseFileError(f"{where}: '{key}' must be text.")
    value = value.strip()
    if required and not value:
        raise CourseFileError(f"{where}: '{key}' is required.")
    if len(value) > limit:
        raise CourseFileError(f"{where}: '{key}' is longer than {limit} characters.")
    return value


def _slug(data: dict, where: str) -> str:
    slug = data.get("slug")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise CourseFileError(
            f"{where}: 'slug' must be lower-case letters, digits and hyphens (got {slug!r})."
        )
    return slug


def _items(data: dict, key: str, where: str) -> list[dict]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise CourseFileError(f"{where}: '{key}' must be a list of tables.")
    slugs = [_slug(item, f"{where} {key}[{n}]") for n, item in enumerate(items)]
    if len(set(slugs)) != len(slugs):
        raise CourseFileError(f"{where}: two {key} share a slug.")
    return items


def _upsert(model, lookup: dict, values: dict, report: ImportReport):
    row = db.session.execute(db.select(model).filter_by(**lookup)).scalar_one_or_none()
    if row is None:
        row = model(**lookup, **values)
        db.session.add(row)
        report.created += 1
    elif any(getattr(row, k) != v for k, v in values.items()):
        for key, value in values.items():
            setattr(row, key, value)
        report.updated += 1
    db.session.flush()
    return row


def import_course(data: dict[str, Any]) -> ImportReport:
    """Create or update a course from parsed data. Never deletes a module, prompt or post."""
    course_slug = _slug(data, "course")
    modules = _items(data, "modules", "course")
    course_values = {
        "title": _text(data, "title", "course", required=True, limit=MAX_TITLE),
        "intro": _text(data, "intro", "course"),
    }
    # Validate everything before writing anything.
    parsed = []
    for m_pos, module in enumerate(modules):
        where = f"module '{module['slug']}'"
        prompts = _items(module, "prompts", where)
        parsed.append(
            (
                module["slug"],
                {
                    "position": m_pos,
                    "title": _text(module, "title", where, required=True, limit=MAX_TITLE),
                    "intro": _text(module, "intro", where),
                    "journal_prompt": _text(module, "journal_prompt", where),
                },
                [
                    (
                        p["slug"],
                        {
                            "position": p_pos,
                            "title": _text(
                                p, "title", f"{where} prompt '{p['slug']}'", True, MAX_TITLE
                            ),
                            "body": _text(p, "body", f"{where} prompt '{p['slug']}'"),
                        },
                    )
                    for p_pos, p in enumerate(prompts)
                ],
            )
        )

    report = ImportReport(course=None)  # type: ignore[arg-type]
    course = _upsert(Course, {"slug": course_slug}, course_values, report)
    report.course = course
    for module_slug, module_values, prompt_rows in parsed:
        module = _upsert(
            Module, {"course_id": course.id, "slug": module_slug}, module_values, report
        )
        for prompt_slug, prompt_values in prompt_rows:
            _upsert(Prompt, {"module_id": module.id, "slug": prompt_slug}, prompt_values, report)
    if report.created or report.updated:
        # Every cached page of the course (thread, module, course) carries this version.
        db.session.execute(
            update(Course).where(Course.id == course.id).values(version=Course.version + 1)
        )
    return report


def find_prompt(course_slug: str, module_slug: str, prompt_slug: str) -> Prompt | None:
    """A prompt by its three slugs, with its module and course, in one statement."""
    return db.session.execute(
        db.select(Prompt)
        .join(Prompt.module)
        .join(Module.course)
        .where(Course.slug == course_slug, Module.slug == module_slug, Prompt.slug == prompt_slug)
        .options(contains_eager(Prompt.module).contains_eager(Module.course))
    ).scalar_one_or_none()


# The data versions each anonymous page is cached by (forum/front_cache.py), each in one
# light statement by the URL's slugs; no row: no such page. The course's id and
# created_at mean a database made afresh never shares entries with an older one.
#
# A thread: the course's version (bumped by every import that changes it: titles, prompt
# text) and the prompt's (bumped by every change to its thread); then the prompt's module.
THREAD_VERSION = (
    select(
        Course.id,
        Course.created_at,
        Course.version,
        Prompt.id,
        Prompt.version,
        Prompt.module_id,
    )
    .select_from(Prompt)
    .join(Module, Prompt.module_id == Module.id)
    .join(Course, Module.course_id == Course.id)
    .where(
        Course.slug == bindparam("course_slug"),
        Module.slug == bindparam("module_slug"),
        Prompt.slug == bindparam("prompt_slug"),
    )
)


def find_module(course_slug: str, module_slug: str) -> Module | None:
    """A module by its slugs, with its course, in one statement."""
    return db.session.execute(
        db.select(Module)
        .join(Module.course)
        .where(Course.slug == course_slug, Module.slug == module_slug)
        .options(contains_eager(Module.course))
    ).scalar_one_or_none()


# A module: the course's version (every import that changes it, the only way a prompt is
# added) and the sum of its prompts' versions (each bumped by every change to its
# thread, so the sum only grows); the module page shows nothing else.
MODULE_VERSION = (
    select(
        Course.id,
        Course.created_at,
        Course.version,
        Module.id,
        select(func.coalesce(func.sum(Prompt.version), 0))
        .where(Prompt.module_id == Module.id)
        .scalar_subquery(),
    )
    .select_from(Module)
    .join(Course, Module.course_id == Course.id)
    .where(Course.slug == bindparam("course_slug"), Module.slug == bindparam("module_slug"))
)

# A course: its version (the course page shows its modules and prompts: only an import
# changes them).
COURSE_VERSION = select(Course.id, Course.created_at, Course.version).where(
    Course.slug == bindparam("course_slug")
)


def list_courses() -> list[Course]:
    """All courses, by title, with their modules (ids only: the page counts them)."""
    return list(
        db.session.execute(
            db.select(Course)
            .order_by(Course.title)
            .options(selectinload(Course.modules).load_only(Module.id, Module.course_id))
        ).scalars()
    )


def get_course(slug: str) -> Course | None:
    return db.session.execute(db.select(Course).filter_by(slug=slug)).scalar_one_or_none()


def course_page(slug: str) -> Course | None:
    """A course with what its page shows, its modules and their prompts' ids, in three
    statements whatever their number."""
    return db.session.execute(
        db.select(Course)
        .filter_by(slug=slug)
        .options(
            selectinload(Course.modules)
            .selectinload(Module.prompts)
            .load_only(Prompt.id, Prompt.module_id)
        )
    ).scalar_one_or_none()


def get_module(course: Course, slug: str) -> Module | None:
    return db.session.execute(
        db.select(Module).filter_by(course_id=course.id, slug=slug)
    ).scalar_one_or_none()


def get_prompt(module: Module, slug: str) -> Prompt | None:
    return db.session.execute(
        db.select(Prompt).filter_by(module_id=module.id, slug=slug)
    ).scalar_one_or_none()
