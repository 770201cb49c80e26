"""``flask content resanitize``: stored HTML written by an older sanitiser is re-rendered
from its source; current rows and everything else about a row stay as they were."""

from __future__ import annotations

from sqlalchemy import select, update

from forum.content_cli import stored_markdown_models
from forum.extensions import db
from forum.journals.models import JournalEntry, JournalReply
from forum.markup import SANITIZER_VERSION, StoredMarkdown, render_markdown
from forum.threads.models import Post, PostRevision
from tests.journals import conftest as journal_fixtures
from tests.journals.conftest import write_entry, write_post

cast = journal_fixtures.cast
client_for = journal_fixtures.client_for

STALE_HTML = '<p>old <img src=x onerror="alert(1)"></p>'
OLD_VERSION = "md0.0+bleach0.0+r0"


def test_every_stored_markdown_model_is_found():
    found = set(stored_markdown_models())
    assert {Post, PostRevision, JournalEntry, JournalReply} <= found
    assert all(issubclass(model, StoredMarkdown) for model in found)


def _rows(model):
    return {
        row.id: (row.body_html, row.sanitizer_version, row.body_source)
        for row in db.session.execute(select(model)).scalars()
    }


def test_resanitize_rerenders_only_stale_rows_and_is_idempotent(app, runner, cast, client_for):
    author = client_for(cast.author)
    stale_post = write_post(author, "Stale *post* <script>alert(1)</script>")
    fresh_post = write_post(author, "Fresh **post**")
    author.post(f"/posts/{fresh_post}/edit", data={"body": "Fresh **post**, edited"})
    entry_id = write_entry(author, "A _journal_ entry")
    author.post(f"/journal/entries/{entry_id}/replies", data={"body": "An answer, **bold**"})
    with app.app_context():
        db.session.execute(
            update(Post)
            .where(Post.id == stale_post)
            .values(body_html=STALE_HTML, sanitizer_version=OLD_VERSION)
        )
        for model in (JournalEntry, JournalReply, PostRevision):
            db.session.execute(
                update(model).values(body_html=STALE_HTML, sanitizer_version=OLD_VERSION)
            )
        db.session.commit()
        before = {model: _rows(model) for model in (Post, PostRevision, JournalEntry, JournalReply)}
        edited_at = db.session.get(Post, stale_post).edited_at
        assert before[JournalReply] and before[PostRevision], "the setup wrote no reply/revision"

    result = runner.invoke(args=["content", "resanitize", "--batch-size", "1"])
    assert result.exit_code == 0, result.output
    stale_count = 1 + sum(len(before[m]) for m in (PostRevision, JournalEntry, JournalReply))
    assert f"done: {stale_count} row(s)" in result.output
    assert "posts: re-sanitised 1 row(s), 1 with new HTML" in result.output

    with app.app_context():
        for model, rows in before.items():
            after = _rows(model)
            for row_id, (old_html, old_version, source) in rows.items():
                html, version, new_source = after[row_id]
                assert version == SANITIZER_VERSION
                assert new_source == source
                if old_version == OLD_VERSION:
                    assert html == render_markdown(source).html != STALE_HTML
                    assert "onerror" not in html and "<script" not in html
                else:
                    assert (html, version) == (old_html, old_version)  # untouched
        assert before[Post][fresh_post][1] == SANITIZER_VERSION
        assert db.session.get(Post, stale_post).edited_at == edited_at

    again = runner.invoke(args=["content", "resanitize"])
    assert again.exit_code == 0, again.output
    assert "done: 0 row(s)" in again.output
