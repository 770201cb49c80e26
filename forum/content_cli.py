"""``flask content resanitize``: re-render stored Markdown written by an older sanitiser.

Every model that stores a person's Markdown uses the :class:`~forum.markup.StoredMarkdown`
mixin (posts, post revisions, journal entries, journal replies, ...); they are found
through the mixin's subclasses, so a new one is covered without a change here. Rows whose
``sanitizer_version`` differs from :data:`~forum.markup.SANITIZER_VERSION` get their
``body_html`` re-rendered from ``body_source``, a batch per transaction. Running it twice
changes nothing the second time.
"""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import or_, select, update

from forum.extensions import db
from forum.markup import SANITIZER_VERSION, StoredMarkdown, render_markdown

content_cli = AppGroup("content", help="Stored content: re-render it with today's sanitiser.")


def stored_markdown_models() -> list[Any]:
    """Every mapped model class using the StoredMarkdown mixin, in a stable order."""
    found: list[Any] = []
    pending = list(StoredMarkdown.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if hasattr(cls, "__table__") and cls not in found:
            found.append(cls)
    return sorted(found, key=lambda cls: cls.__table__.name)


def resanitize_model(model: Any, batch_size: int = 500) -> tuple[int, int]:
    """Re-render ``model``'s stale rows, committing each batch; returns (stale, changed)."""
    stale_rows = or_(
        model.sanitizer_version != SANITIZER_VERSION, model.sanitizer_version.is_(None)
    )
    stale = changed = 0
    last_id = None
    while True:
        query = select(model.id, model.body_source, model.body_html).where(stale_rows)
        if last_id is not None:
            query = query.where(model.id > last_id)
        rows = db.session.execute(query.order_by(model.id).limit(batch_size)).all()
        if not rows:
            break
        for row_id, source, old_html in rows:
            rendered = render_markdown(source or "")
            # A core UPDATE of these columns only: no edit time or other bookkeeping moves.
            db.session.execute(
                update(model.__table__)
                .where(model.__table__.c.id == row_id)
                .values(body_html=rendered.html, sanitizer_version=rendered.sanitizer_version)
            )
            stale += 1
            changed += rendered.html != old_html
        db.session.commit()
        last_id = rows[-1][0]
    return stale, changed


@content_cli.command("resanitize")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500, show_default=True)
def resanitize_command(batch_size: int) -> None:
    """Re-render every stored text whose sanitiser version is older than today's."""
    total = 0
    for model in stored_markdown_models():
        stale, changed = resanitize_model(model, batch_size)
        total += stale
        click.echo(f"{model.__table__.name}: re-sanitised {stale} row(s), {changed} with new HTML")
    click.echo(f"done: {total} row(s) now at sanitiser version {SANITIZER_VERSION}")
