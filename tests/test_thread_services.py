"""Thread services: counts, idempotency, signals and the rules on who may do what."""

from __future__ import annotations

from datetime import timedelta

import pytest

from forum.accounts.models import Role
from forum.courses.models import Prompt
from forum.courses.services import import_course
from forum.database import utcnow
from forum.extensions import db
from forum.signals import (
    Hold,
    post_created,
    post_edited,
    post_published,
    post_status_changed,
)
from forum.threads.models import Post, PostRevision, PostStatus
from forum.threads.services import (
    PostError,
    PostPermissionError,
    change_post_status,
    create_post,
    delete_post,
    edit_post,
    page_of_post,
    thread_page,
)

KEY = "k" * 24


@pytest.fixture
def prompt(app_ctx):
    import_course(
        {
            "slug": "c",
            "title": "C",
            "modules": [{"slug": "m", "title": "M", "prompts": [{"slug": "p", "title": "P"}]}],
        }
    )
    db.session.commit()
    return db.session.execute(db.select(Prompt)).scalar_one()


@pytest.fixture
def author(make_user, app_ctx):
    return db.session.merge(make_user())


def test_posting_counts_and_records_activity(prompt, author):
    post, created = create_post(author, prompt, "  Hello  ")
    db.session.commit()
    assert created
    assert post.body_source == "Hello"
    assert prompt.post_count == 1
    assert prompt.last_post_at == post.created_at


def test_same_idempotency_key_gives_the_same_post(prompt, author):
    first, created_first = create_post(author, prompt, "Once", idempotency_key=KEY)
    second, created_second = create_post(author, prompt, "Once", idempotency_key=KEY)
    db.session.commit()
    assert (created_first, created_second) == (True, False)
    assert first.id == second.id
    assert prompt.post_count == 1


@pytest.mark.parametrize("key", ["short", "x" * 65, "bad key with spaces!!", "../../etc/passwd1"])
def test_malformed_idempotency_keys_are_refused(prompt, author, key):
    with pytest.raises(PostError, match="reload"):
        create_post(author, prompt, "text", idempotency_key=key)


def test_body_limits(prompt, author, app):
    with pytest.raises(PostError, match="write something"):
        create_post(author, prompt, " \n\x00 ")
    with pytest.raises(PostError, match="limit is"):
        create_post(author, prompt, "x" * (app.config["POST_MAX_CHARS"] + 1))
    assert db.session.execute(db.select(db.func.count(Post.id))).scalar_one() == 0


def test_control_characters_are_removed(prompt, author):
    post, _ = create_post(author, prompt, "a\x00b\x1bc\r\nd")
    assert post.body_source == "abc\nd"


def test_unconfirmed_and_suspended_accounts_cannot_post(prompt, author):
    author.email_confirmed_at = None
    with pytest.raises(PostPermissionError, match="confirm"):
        create_post(author, prompt, "x")
    author.email_confirmed_at = utcnow()
    author.suspended_until = utcnow() + timedelta(days=1)
    with pytest.raises(PostPermissionError, match="can't post"):
        create_post(author, prompt, "x")


def test_edit_keeps_the_previous_text_and_signals(prompt, author):
    post, _ = create_post(author, prompt, "First")
    seen: list = []
    with post_edited.connected_to(lambda app, **kw: seen.append(kw["revision"])):
        edit_post(author, post, "Second")
    revisions = db.session.execute(db.select(PostRevision)).scalars().all()
    assert [r.body_source for r in revisions] == ["First"]
    assert seen == revisions
    assert post.body_source == "Second" and post.edited_at is not None


def test_only_the_author_edits_or_deletes(prompt, author, make_user):
    other = db.session.merge(make_user())
    post, _ = create_post(author, prompt, "Mine")
    with pytest.raises(PostPermissionError):
        edit_post(other, post, "Theirs")
    with pytest.raises(PostPermissionError):
        delete_post(other, post)


def test_delete_is_soft_and_uncounts(prompt, author):
    post, _ = create_post(author, prompt, "Going")
    db.session.commit()
    changes = []

    def record(app, **kw):
        changes.append((kw["post"].id, kw["old_status"], kw["new_status"], kw["actor"].id))

    with post_status_changed.connected_to(record):
        delete_post(author, post)
    db.session.commit()
    assert post.status == PostStatus.DELETED and post.body_source == "Going"
    assert prompt.post_count == 0
    assert changes == [(post.id, PostStatus.VISIBLE, PostStatus.DELETED, author.id)]
    with pytest.raises(PostError, match="deleted"):
        edit_post(author, post, "Back")


def test_a_receiver_can_hold_a_post_and_it_is_not_counted(prompt, author, make_user):
    def hold(app, post):
        return Hold(rule="test", reason="held by a test rule")

    published = []
    with (
        post_created.connected_to(hold),
        post_published.connected_to(lambda app, **kw: published.append(kw["post"].id)),
    ):
        post, _ = create_post(author, prompt, "Risky")
    db.session.commit()
    assert post.status == PostStatus.HELD and post.published_at is None
    assert published == []
    assert prompt.post_count == 0
    reader = db.session.merge(make_user())
    assert thread_page(prompt, reader, 1).total == 0
    assert thread_page(prompt, author, 1).total == 1  # the author still sees it


@pytest.mark.parametrize("hold_first", [True, False])
def test_a_hold_wins_whatever_order_receivers_run_in(prompt, author, hold_first):
    """A later receiver can't undo a hold by writing the status back (order-independent)."""

    def hold(app, post):
        return Hold(rule="test", reason="held")

    def innocent(app, post):
        post.status = PostStatus.VISIBLE  # misbehaving: only answers count
        return None

    first, second = (hold, innocent) if hold_first else (innocent, hold)
    with post_created.connected_to(first), post_created.connected_to(second):
        post, _ = create_post(author, prompt, "Risky")
    assert post.status == PostStatus.HELD
    assert prompt.post_count == 0


def test_approving_a_held_post_publishes_it_once_and_counts_it(prompt, author, make_user):
    moderator = db.session.merge(make_user(Role.MODERATOR))
    published = []
    with post_created.connected_to(lambda app, post: Hold(rule="t", reason="r")):
        post, _ = create_post(author, prompt, "Held then approved")
    with post_published.connected_to(lambda app, **kw: published.append(kw["actor"].id)):
        change_post_status(moderator, post, PostStatus.VISIBLE, reason="fine")
        assert post.published_at is not None and prompt.post_count == 1
        # Hidden and restored later: counted again, but not published a second time.
        change_post_status(moderator, post, PostStatus.HIDDEN, reason="flags")
        assert prompt.post_count == 0
        change_post_status(moderator, post, PostStatus.VISIBLE, reason="kept")
    db.session.commit()
    assert published == [moderator.id]
    assert prompt.post_count == 1


def test_only_moderators_change_visibility_and_deleted_is_final(prompt, author, make_user):
    other = db.session.merge(make_user())
    post, _ = create_post(author, prompt, "Mine")
    for actor in (author, other):
        with pytest.raises(PostPermissionError):
            change_post_status(actor, post, PostStatus.HIDDEN)
    with pytest.raises(PostPermissionError):
        change_post_status(other, post, PostStatus.DELETED)
    delete_post(author, post)
    moderator = db.session.merge(make_user(Role.MODERATOR))
    with pytest.raises(PostError, match="deleted"):
        change_post_status(moderator, post, PostStatus.VISIBLE)
    assert prompt.post_count == 0


def test_pages_and_permalinks(prompt, author, app):
    app.config["POSTS_PER_PAGE"] = 2
    posts = [create_post(author, prompt, f"p{n}")[0] for n in range(5)]
    page = thread_page(prompt, None, 3)
    assert (page.pages, page.total, [p.id for p in page.posts]) == (3, 5, [posts[4].id])
    assert [page_of_post(p, None) for p in posts] == [1, 1, 2, 2, 3]
    for bad in (0, 4, -1):
        with pytest.raises(PostError):
            thread_page(prompt, None, bad)


def test_reply_must_be_in_the_same_thread(prompt, author):
    other_prompt = Prompt(module_id=prompt.module_id, slug="q", title="Q")
    db.session.add(other_prompt)
    parent, _ = create_post(author, prompt, "Parent")
    with pytest.raises(PostError, match="no longer available"):
        create_post(author, other_prompt, "Reply", parent=parent)
    reply, _ = create_post(author, prompt, "Reply", parent=parent)
    assert reply.parent_id == parent.id


def test_a_held_post_removed_as_spam_leaves_no_placeholder(prompt, author, make_user):
    moderator = db.session.merge(make_user(Role.MODERATOR))
    reader = db.session.merge(make_user())
    with post_created.connected_to(lambda app, post: Hold(rule="t", reason="links")):
        spam, _ = create_post(author, prompt, "Buy cheap essays")
    seen, _ = create_post(author, prompt, "A real reflection")
    change_post_status(moderator, seen, PostStatus.REMOVED, reason="off-topic")
    change_post_status(moderator, spam, PostStatus.REMOVED, reason="spam")
    db.session.commit()
    # The post readers saw keeps its place as a placeholder; the spam they never saw doesn't.
    assert [p.id for p in thread_page(prompt, reader, 1).posts] == [seen.id]
    assert [p.id for p in thread_page(prompt, None, 1).posts] == [seen.id]
