"""Thread pages over HTTP: reading, posting, replying, editing, deleting, and bad input."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from forum.accounts.models import Role, User
from forum.accounts.services import create_user
from forum.database import utcnow
from forum.extensions import db
from forum.threads.models import Post, PostRevision, PostStatus
from tests.conftest import TEST_PASSWORD
from tests.hostile import audit_fragment, hostile_strings
from tests.threads.conftest import (
    KEY,
    OTHER_THREAD,
    THREAD,
    all_posts,
    login_redirect_next,
    page_text,
    post_id_from,
    post_reflection,
    prompt_row,
    raw_html,
)


def post_bodies(page: str) -> list[str]:
    """The inner HTML of every rendered post body on a page."""
    return re.findall(r'<div class="post-body">(.*?)</div>\s*<footer', page, flags=re.S)


# Reading ---------------------------------------------------------------------------------


def test_reader_without_account_reads_the_thread(app, client, course, alice_client):
    post_id_from(post_reflection(alice_client, "My *first* reflection"))
    response = client.get(THREAD)
    page = page_text(response)
    assert response.status_code == 200
    assert "<h1>A first memory</h1>" in page
    assert "Share one." in page
    assert "<em>first</em>" in page
    assert "Alice Author" in page
    # Breadcrumb back to the course and the module.
    assert 'href="/c/allyship"' in page
    assert 'href="/c/allyship/noticing"' in page
    # No writing form for a reader; a way to log in that comes back here instead.
    assert 'name="body"' not in page
    assert f'href="/account/login?next={THREAD}"' in page
    assert "Log in to reply" in page


def test_posts_are_oldest_first_with_permalink_anchors(app, client, course, alice_client):
    first = post_id_from(post_reflection(alice_client, "Written first", key="a" * 20))
    second = post_id_from(post_reflection(alice_client, "Written second", key="b" * 20))
    page = page_text(client.get(THREAD))
    assert page.index("Written first") < page.index("Written second")
    for post_id in (first, second):
        assert f'id="post-{post_id}"' in page
        assert f'href="/posts/{post_id}"' in page
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+\+00:00"', page)


def test_permalink_redirects_to_the_post_in_its_thread(client, course, alice_client):
    post_id = post_id_from(post_reflection(alice_client, "Find me"))
    response = client.get(f"/posts/{post_id}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"{THREAD}#post-{post_id}"


def test_permalink_of_a_missing_post_is_a_friendly_404(client, course):
    response = client.get("/posts/999999")
    assert response.status_code == 404
    assert "We couldn't find that page" in page_text(response)
    assert client.get("/posts/99999999999999999999999").status_code == 404


@pytest.mark.parametrize("post_id", [2**31, 2**63 - 1, 2**63, 10**30])
@pytest.mark.parametrize("action", ["", "/reply", "/edit", "/delete"])
def test_huge_post_ids_are_404_not_500(course, alice_client, post_id, action):
    assert alice_client.get(f"/posts/{post_id}{action}").status_code == 404
    if action:
        assert alice_client.post(f"/posts/{post_id}{action}", data={"body": "x"}).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/c/allyship/noticing/nope",
        "/c/allyship/listening/first-memory",  # a prompt of another module
        "/c/nope/noticing/first-memory",
        "/c/allyship/nope/first-memory",
        "/c/allyship/noticing/%00",
        "/c/allyship/noticing/" + "a" * 3000,
        "/c/allyship/noticing/first-memory%0a",
    ],
)
def test_inconsistent_or_unknown_slugs_are_404(client, course, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "skip-link" in page_text(response)  # the site's own look
    assert client.post(path + "/posts", data={"body": "x"}).status_code in (302, 404)


@pytest.mark.parametrize(
    "page", ["abc", "0", "-1", "1.5", "99999999999999999999", "2", "", "%00", "\uff11"]
)
def test_bad_or_out_of_range_pages_are_404_not_500(client, course, alice_client, page):
    post_reflection(alice_client, "Only one post, so only one page")
    response = client.get(f"{THREAD}?page={page}")
    assert response.status_code == 404
    assert "That page of the thread doesn't exist" in page_text(response)


# Posting ---------------------------------------------------------------------------------


def test_anonymous_post_is_sent_to_log_in_and_creates_nothing(app, client, course):
    response = post_reflection(client, "Sneaky")
    login_redirect_next(response)
    assert all_posts(app) == []


@pytest.mark.parametrize("path", [THREAD + "/posts", "/posts/{id}/reply"])
def test_anonymous_get_of_a_write_page_goes_to_log_in_and_back(client, course, alice_client, path):
    post_id = post_id_from(post_reflection(alice_client, "A post to reply to"))
    path = path.format(id=post_id)
    assert login_redirect_next(client.get(path)) == path


def test_participant_posts_and_is_sent_to_the_permalink(app, course, alice_client):
    form_page = page_text(alice_client.get(THREAD))
    assert '<label for="body">Your reflection</label>' in form_page
    # The limit is for the counter; maxlength would silently cut pasted text.
    assert 'data-limit="10000"' in form_page and "maxlength" not in form_page
    assert "Reflections are public: anyone can read them." in form_page
    key = re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', form_page)
    assert key and len(key.group(1)) >= 24

    response = post_reflection(alice_client, "Hello, thread", key=key.group(1))
    post_id = post_id_from(response)
    (post,) = all_posts(app)
    assert post.id == post_id and post.body_source == "Hello, thread"
    assert prompt_row(app, post.prompt_id).post_count == 1

    followed = alice_client.get(f"/posts/{post_id}", follow_redirects=True)
    page = page_text(followed)
    assert "Thank you. Your reflection is posted." in page
    assert "Hello, thread" in page
    assert f'href="/posts/{post_id}/edit"' in page
    assert f'href="/posts/{post_id}/delete"' in page


def test_each_form_render_gets_a_fresh_idempotency_key(course, alice_client):
    keys = {
        re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', page_text(r)).group(1)
        for r in (alice_client.get(THREAD), alice_client.get(THREAD))
    }
    assert len(keys) == 2


def test_double_submit_with_one_key_creates_one_post(app, course, alice_client):
    first = post_reflection(alice_client, "Clicked twice", key=KEY)
    second = post_reflection(alice_client, "Clicked twice", key=KEY)
    assert post_id_from(first) == post_id_from(second)
    assert len(all_posts(app)) == 1
    assert prompt_row(app, course.prompt_id).post_count == 1


def test_over_long_body_gets_a_clear_message_and_keeps_the_text(app, course, alice_client):
    body = "word " * 2001 + "end"
    response = post_reflection(alice_client, body)
    page = page_text(response)
    assert response.status_code == 422
    assert "the limit is 10,000" in page
    assert 'aria-invalid="true"' in page
    assert 'aria-describedby="body-help body-count body-error"' in page
    assert body.strip() in page  # the text is kept in the form
    assert all_posts(app) == []


@pytest.mark.parametrize("body", ["", "   \n\t  ", "\x00\x01"])
def test_empty_body_is_refused_with_a_message(app, course, alice_client, body):
    response = post_reflection(alice_client, body)
    assert response.status_code == 422
    assert "Please write something before posting." in page_text(response)
    assert all_posts(app) == []


def test_tampered_idempotency_key_gets_a_message_not_a_500(app, course, alice_client):
    response = post_reflection(alice_client, "Hello", key="<not a key>")
    assert response.status_code == 422
    assert "reload the page" in page_text(response)
    # The re-rendered form carries a fresh, valid key, so the next submit works.
    key = re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', page_text(response))
    assert post_id_from(post_reflection(alice_client, "Hello", key=key.group(1)))


def test_unconfirmed_user_cannot_post(app, course, login):
    with app.app_context():
        user = create_user("new@example.com", "Newcomer", TEST_PASSWORD, confirmed=False)
        db.session.commit()
        user = db.session.get(User, user.id)
    client = app.test_client()
    login(client, user)
    assert "Please confirm your email address" in page_text(client.get(THREAD))
    response = post_reflection(client, "Let me in")
    assert response.status_code == 403
    assert "Please confirm your email address before posting." in page_text(response)
    assert all_posts(app) == []


def test_suspended_user_cannot_post_or_reply(app, course, alice, alice_client, bob_client):
    post_id = post_id_from(post_reflection(alice_client, "Original"))
    with app.app_context():
        db.session.get(User, alice.id).suspended_until = utcnow() + timedelta(days=1)
        db.session.commit()
    response = post_reflection(alice_client, "Still here", key="s" * 20)
    assert response.status_code == 403
    assert "can't post at the moment" in page_text(response)
    response = alice_client.post(f"/posts/{post_id}/reply", data={"body": "reply"})
    assert response.status_code == 403
    assert len(all_posts(app)) == 1


# Replies ---------------------------------------------------------------------------------


def test_reply_quotes_the_parent(app, client, course, alice_client, bob_client):
    parent_id = post_id_from(post_reflection(alice_client, "**Long** parent text " * 20))
    form = bob_client.get(f"/posts/{parent_id}/reply")
    assert form.status_code == 200
    assert "Reply to Alice Author" in page_text(form)
    assert "<strong>Long</strong> parent text" in page_text(form)

    reply_id = post_id_from(
        bob_client.post(
            f"/posts/{parent_id}/reply", data={"body": "I hear you", "idempotency_key": KEY}
        )
    )
    reply = next(p for p in all_posts(app) if p.id == reply_id)
    assert reply.parent_id == parent_id

    page = page_text(client.get(THREAD))
    context = re.search(r'<div class="reply-context">(.*?)</div>', page, flags=re.S).group(1)
    assert f'<a href="/posts/{parent_id}">In reply to Alice Author</a>' in context
    assert "Long parent text Long parent text" in context  # plain text, no markup
    assert "<strong>" not in context
    assert len(re.search(r"<blockquote><p>(.*?)</p>", context, flags=re.S).group(1)) <= 201


def test_reply_to_a_deleted_post_is_404(app, course, alice_client, bob_client):
    parent_id = post_id_from(post_reflection(alice_client, "Soon gone"))
    alice_client.post(f"/posts/{parent_id}/delete")
    assert bob_client.get(f"/posts/{parent_id}/reply").status_code == 404
    response = bob_client.post(f"/posts/{parent_id}/reply", data={"body": "Too late"})
    assert response.status_code == 404
    assert len(all_posts(app)) == 1


def test_reply_with_an_error_keeps_the_quote_and_the_text(app, course, alice_client, bob_client):
    parent_id = post_id_from(post_reflection(alice_client, "Parent here"))
    response = bob_client.post(f"/posts/{parent_id}/reply", data={"body": "x" * 10_001})
    assert response.status_code == 422
    page = page_text(response)
    assert "Parent here" in page
    assert "x" * 10_001 in page
    assert len(all_posts(app)) == 1


# Editing and deleting --------------------------------------------------------------------


def test_author_edits_and_the_revision_is_kept(app, client, course, alice_client):
    post_id = post_id_from(post_reflection(alice_client, "First draft"))
    form = alice_client.get(f"/posts/{post_id}/edit")
    assert form.status_code == 200
    assert "First draft</textarea>" in page_text(form)

    response = alice_client.post(f"/posts/{post_id}/edit", data={"body": "Second draft"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/posts/{post_id}"
    with app.app_context():
        (revision,) = db.session.execute(db.select(PostRevision)).scalars()
        assert revision.body_source == "First draft"
        assert db.session.get(Post, post_id).edited_at is not None

    page = page_text(client.get(THREAD))
    assert "Second draft" in page
    assert "First draft" not in page
    assert re.search(r'class="post-edited">edited <time datetime="', page)


def test_edit_with_an_empty_body_changes_nothing(app, course, alice_client):
    post_id = post_id_from(post_reflection(alice_client, "Keep me"))
    response = alice_client.post(f"/posts/{post_id}/edit", data={"body": "  "})
    assert response.status_code == 422
    assert "Please write something" in page_text(response)
    (post,) = all_posts(app)
    assert post.body_source == "Keep me" and post.edited_at is None


def test_author_deletes_after_confirming(app, client, course, alice_client):
    keep_id = post_id_from(post_reflection(alice_client, "Stays", key="k" * 20))
    post_id = post_id_from(post_reflection(alice_client, "Regrettable words", key="r" * 20))
    assert prompt_row(app, course.prompt_id).post_count == 2

    confirm = alice_client.get(f"/posts/{post_id}/delete")
    assert confirm.status_code == 200
    assert "Delete this post?" in page_text(confirm)
    assert all_posts(app)[1].status == PostStatus.VISIBLE  # a GET deletes nothing

    response = alice_client.post(f"/posts/{post_id}/delete")
    assert response.status_code == 303
    assert prompt_row(app, course.prompt_id).post_count == 1

    page = page_text(client.get(THREAD))
    assert "This reflection was deleted by its author." in page
    assert "Regrettable words" not in page
    assert f'id="post-{post_id}"' in page and f'id="post-{keep_id}"' in page
    # Deleting twice, or editing a deleted post, is refused without a 500.
    assert alice_client.post(f"/posts/{post_id}/delete").status_code == 404
    assert alice_client.post(f"/posts/{post_id}/edit", data={"body": "back"}).status_code == 404


def test_someone_else_cannot_edit_or_delete(app, course, alice_client, bob_client):
    post_id = post_id_from(post_reflection(alice_client, "Alice's words"))
    page = page_text(bob_client.get(THREAD))
    assert "Alice's words" in page
    assert f'href="/posts/{post_id}/edit"' not in page
    assert f'href="/posts/{post_id}/delete"' not in page
    for response in (
        bob_client.get(f"/posts/{post_id}/edit"),
        bob_client.post(f"/posts/{post_id}/edit", data={"body": "Bob's words"}),
        bob_client.get(f"/posts/{post_id}/delete"),
        bob_client.post(f"/posts/{post_id}/delete"),
    ):
        assert response.status_code == 403
        assert "Only the author can change this post." in page_text(response)
    (post,) = all_posts(app)
    assert post.body_source == "Alice's words" and post.status == PostStatus.VISIBLE


def test_anonymous_cannot_edit_or_delete(app, client, course, alice_client):
    post_id = post_id_from(post_reflection(alice_client, "Mine"))
    for response in (
        client.get(f"/posts/{post_id}/edit"),
        client.post(f"/posts/{post_id}/edit", data={"body": "x"}),
        client.post(f"/posts/{post_id}/delete"),
    ):
        login_redirect_next(response)
    (post,) = all_posts(app)
    assert post.body_source == "Mine" and post.status == PostStatus.VISIBLE


# Held and removed posts ------------------------------------------------------------------


def set_status(app, post_id: int, status: PostStatus) -> None:
    with app.app_context():
        db.session.get(Post, post_id).status = status
        db.session.commit()


def test_held_post_is_shown_only_to_its_author_with_a_notice(
    app, client, course, alice_client, bob_client
):
    post_id = post_id_from(post_reflection(alice_client, "Waiting for review"))
    set_status(app, post_id, PostStatus.HELD)
    own = page_text(alice_client.get(THREAD))
    assert "Waiting for review" in own
    assert "Only you can see this while a moderator reviews it." in own
    for other in (client, bob_client):
        assert "Waiting for review" not in page_text(other.get(THREAD))
        assert other.get(f"/posts/{post_id}").status_code == 404
        assert bob_client.get(f"/posts/{post_id}/reply").status_code == 404


def test_removed_post_shows_a_placeholder(app, client, course, alice_client):
    post_id = post_id_from(post_reflection(alice_client, "Something unkind"))
    set_status(app, post_id, PostStatus.REMOVED)
    page = page_text(client.get(THREAD))
    assert "This post was removed by a moderator." in page
    assert "Something unkind" not in page


def test_moderator_sees_held_posts_marked(app, course, alice_client, make_user, login):
    post_id = post_id_from(post_reflection(alice_client, "Held for a look"))
    set_status(app, post_id, PostStatus.HELD)
    moderator = app.test_client()
    login(moderator, make_user(Role.MODERATOR))
    page = page_text(moderator.get(THREAD))
    assert "Held for a look" in page
    assert "Not shown to readers (held)." in page


# Hostile input ---------------------------------------------------------------------------

XSS = [
    "<script>alert('x')</script>",
    "[click](javascript:alert(1))",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)" onclick="alert(2)">a</a>',
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<svg onload="alert(1)"></svg>',
    "<iframe src=//evil.example></iframe>",
    '"><script>alert(1)</script>',
    "[x](//evil.example/path)",
]


def test_hostile_bodies_are_rendered_inert(app, client, course, alice_client):
    bodies = XSS + hostile_strings()[:60]
    for n, body in enumerate(bodies):
        response = post_reflection(alice_client, body, key=f"hostile-key-{n:08d}")
        assert response.status_code in (303, 422), (body, response.status_code)
    page = raw_html(client.get(THREAD))
    assert "<script>alert" not in page
    assert len(post_bodies(page)) >= 10
    for post_body in post_bodies(page):
        assert audit_fragment(post_body) == [], post_body


def test_hostile_display_name_and_quote_are_escaped(app, client, course, login, make_user):
    mallory = make_user(name='<img src=x onerror="alert(1)">')
    mallory_client = app.test_client()
    login(mallory_client, mallory)
    parent_id = post_id_from(post_reflection(mallory_client, "<b>&lt;script&gt;alert(1)</b>"))
    bob = app.test_client()
    login(bob, make_user())
    post_id_from(
        bob.post(f"/posts/{parent_id}/reply", data={"body": "reply", "idempotency_key": KEY})
    )
    page = raw_html(client.get(THREAD))
    assert "<img" not in page
    assert "<script>" not in page
    assert "&lt;img src=x onerror=" in page


# Pages of other threads stay apart -------------------------------------------------------


def test_posts_stay_in_their_own_thread(app, client, course, alice_client):
    post_reflection(alice_client, "In the first thread", key="1" * 20)
    post_reflection(alice_client, "In the other thread", key="2" * 20, thread=OTHER_THREAD)
    first = page_text(client.get(THREAD))
    other = page_text(client.get(OTHER_THREAD))
    assert "In the first thread" in first and "In the other thread" not in first
    assert "In the other thread" in other and "In the first thread" not in other


def test_the_write_page_shows_the_prompt_and_a_form(course, alice_client):
    response = alice_client.get(THREAD + "/posts")
    page = page_text(response)
    assert response.status_code == 200
    assert "<h1>Add your reflection</h1>" in page
    assert f'href="{THREAD}">A first memory</a>' in page
    assert 'name="idempotency_key"' in page
    assert 'data-limit="10000"' in page and "maxlength" not in page
    assert "Up to 10,000 characters." in page
