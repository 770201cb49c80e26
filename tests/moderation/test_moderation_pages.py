"""Moderation over HTTP: who may open what, the queue, deciding, notices, the audit page,
and what people see when they can't post."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func

from forum.accounts.models import Role
from forum.accounts.services import set_role
from forum.audit import AuditEntry
from forum.courses.models import Prompt
from forum.extensions import db
from forum.threads.models import Post, PostStatus
from moderation import services
from moderation.models import Appeal, ItemState, ReviewItem
from tests.moderation.conftest import OTHER_THREAD, THREAD, item_of, user, write


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def fixtures(app, world):
    """One flagged-and-removed post with an appeal and a sanction, for every id in a URL."""
    with app.app_context():
        post = write(world.author, world.prompt_id, "A reflection")
        services.flag_post(user(world.readers[0]), post, "spam")
        item = item_of(post)
        services.decide(user(world.riley), item, "remove", "Spam", item.version)
        appeal = services.appeal_item(user(world.author), item, "Please look again")
        sanction = services.apply_sanction(
            user(world.riley), user(world.readers[2]), "silence", "Insults", 2
        )
        word = services.add_watched_word(user(world.riley), "vermin", "block")
        db.session.commit()
        return {
            "post": post.id,
            "item": item.id,
            "appeal": appeal.id,
            "sanction": sanction.id,
            "user": world.author.id,
            "prompt": world.prompt_id,
            "word": word.id,
        }


MODERATOR_URLS = [
    ("GET", "/moderation/queue"),
    ("POST", "/moderation/queue/spam"),
    ("GET", "/moderation/items/{item}"),
    ("POST", "/moderation/items/{item}/claim"),
    ("POST", "/moderation/items/{item}/decide"),
    ("GET", "/moderation/appeals/{appeal}"),
    ("POST", "/moderation/appeals/{appeal}/decide"),
    ("GET", "/moderation/threads/{prompt}/lock"),
    ("POST", "/moderation/threads/{prompt}/lock"),
    ("GET", "/moderation/users/{user}"),
    ("POST", "/moderation/users/{user}/sanctions"),
    ("POST", "/moderation/users/{user}/notes"),
    ("POST", "/moderation/sanctions/{sanction}/lift"),
    ("GET", "/moderation/watched-words"),
    ("POST", "/moderation/watched-words"),
    ("POST", "/moderation/watched-words/{word}/remove"),
    ("GET", "/moderation/audit"),
]


@pytest.mark.parametrize(("method", "url"), MODERATOR_URLS)
def test_moderator_pages_refuse_participants_and_visitors(
    app, world, fixtures, client_for, method, url
):
    path = url.format(**fixtures)
    for client in (app.test_client(), client_for(world.readers[1]), client_for(world.author)):
        response = client.open(path, method=method, data={"reason": "x", "version": "0"})
        assert response.status_code in (403, 404), (path, response.status_code)
    with app.app_context():
        # Nothing was decided, lifted or added by the refused requests.
        assert db.session.get(ReviewItem, fixtures["item"]).state == ItemState.APPEALED
        assert db.session.execute(db.select(func.count(AuditEntry.id))).scalar_one() == 3


@pytest.mark.parametrize(
    "url", ["/moderation/items/{item}/appeal", "/moderation/sanctions/{sanction}/appeal"]
)
def test_appeal_pages_are_only_for_the_person_concerned(app, world, fixtures, client_for, url):
    path = url.format(**fixtures)
    assert client_for(world.readers[1]).get(path).status_code == 404
    assert app.test_client().get(path).status_code in (302, 401, 403, 404)


def test_every_moderator_page_opens_for_a_moderator(app, world, fixtures, client_for):
    riley = client_for(world.riley)
    for method, url in MODERATOR_URLS:
        if method == "GET":
            response = riley.get(url.format(**fixtures))
            assert response.status_code == 200, url
    assert client_for(world.admin).get("/moderation/queue").status_code == 200


def test_flagging_through_the_page(app, world, client_for):
    with app.app_context():
        post_id = write(world.author, world.prompt_id, "Words to flag").id
        db.session.commit()
    reader = client_for(world.readers[0])
    page = text_of(reader.get(THREAD))
    assert f'href="/posts/{post_id}/flag"' in page
    form = reader.get(f"/posts/{post_id}/flag")
    assert form.status_code == 200
    assert "Tone is not a reason" not in text_of(form)  # the guidelines say it, in full
    assert "/guidelines" in text_of(form)
    missing_note = reader.post(f"/posts/{post_id}/flag", data={"reason": "other", "note": ""})
    assert missing_note.status_code == 422
    assert "Please say in a few words" in text_of(missing_note)
    done = reader.post(f"/posts/{post_id}/flag", data={"reason": "spam"})
    assert done.status_code == 303
    # The author gets no flag link on their own post.
    assert f"/posts/{post_id}/flag" not in text_of(client_for(world.author).get(THREAD))
    assert client_for(world.author).get(f"/posts/{post_id}/flag").status_code == 403


def test_the_flag_page_offers_the_facilitators_concern_form(app, world, client_for):
    with app.app_context():
        post_id = write(world.author, world.prompt_id, "I feel awful").id
        db.session.commit()
    page = text_of(client_for(world.readers[0]).get(f"/posts/{post_id}/flag"))
    if "support.concern" in app.view_functions:
        assert f'/posts/{post_id}/concern"' in page
        assert "This person may need support" in page


def test_guidelines_say_anger_is_allowed_and_dehumanising_is_not(client, world):
    page = text_of(client.get("/guidelines"))
    assert "Anger about injustice is allowed" in page
    assert "Tone is not a reason to flag a post" in page
    assert "dehumanising people" in page


def test_queue_decide_and_what_readers_and_the_author_see(app, world, client_for):
    with app.app_context():
        post = write(world.author, world.prompt_id, "Some **bold** words")
        for reader in world.readers:
            services.flag_post(user(reader), post, "harassment")
        item = item_of(post)
        post_id, item_id, version = post.id, item.id, item.version
        db.session.commit()
    # Hidden pending review: readers see a neutral placeholder, the author their post.
    reader_page = text_of(client_for(world.readers[0]).get(THREAD))
    assert "This post is hidden while a moderator looks at it." in reader_page
    assert "<strong>bold</strong>" not in reader_page
    anonymous = text_of(app.test_client().get(THREAD))
    assert "hidden while a moderator" in anonymous and "bold" not in anonymous
    author_page = text_of(client_for(world.author).get(THREAD))
    assert "<strong>bold</strong>" in author_page
    assert "Only you can see this while a moderator reviews it." in author_page

    riley = client_for(world.riley)
    queue = text_of(riley.get("/moderation/queue"))
    assert f"/moderation/items/{item_id}" in queue
    assert "<details" in queue  # harassment: the text is behind a click
    assert "Harassment, hate or dehumanising language \u00d73" in queue
    missing = riley.post(
        f"/moderation/items/{item_id}/decide",
        data={"action": "remove", "reason": "", "version": str(version)},
    )
    assert missing.status_code == 422 and "Please give a reason" in text_of(missing)
    done = riley.post(
        f"/moderation/items/{item_id}/decide",
        data={"action": "remove", "reason": "Dehumanising language", "version": str(version)},
    )
    assert done.status_code == 303
    late = client_for(world.sam).post(
        f"/moderation/items/{item_id}/decide",
        data={"action": "keep", "reason": "Fine", "version": str(version)},
    )
    assert late.status_code == 409
    assert "already decided by Riley a moment ago" in text_of(late)

    notices = text_of(client_for(world.author).get("/moderation/notices"))
    assert "Your post was removed by a moderator" in notices
    assert "Dehumanising language" in notices
    assert "Reader 1" not in notices  # never who flagged
    assert f"/moderation/items/{item_id}/appeal" in notices
    appeal = client_for(world.author).post(
        f"/moderation/items/{item_id}/appeal", data={"message": "I was quoting someone"}
    )
    assert appeal.status_code == 303
    with app.app_context():
        appeal_id = db.session.execute(db.select(Appeal.id)).scalar_one()
        assert db.session.get(Post, post_id).status == PostStatus.REMOVED
    queue = text_of(riley.get("/moderation/queue"))
    assert f"/moderation/appeals/{appeal_id}" in queue
    refused = riley.post(
        f"/moderation/appeals/{appeal_id}/decide",
        data={"outcome": "overturned", "reason": "ok", "version": "0"},
    )
    assert refused.status_code == 403 and "different moderator" in text_of(refused)
    decided = client_for(world.sam).post(
        f"/moderation/appeals/{appeal_id}/decide",
        data={"outcome": "overturned", "reason": "It was a quotation", "version": "0"},
    )
    assert decided.status_code == 303
    with app.app_context():
        assert db.session.get(Post, post_id).status == PostStatus.VISIBLE


def test_bulk_spam_through_the_queue(app, world, client_for):
    with app.app_context():
        ids = []
        for n in range(3):
            post = write(world.author, world.prompt_id, f"Advert {n}")
            services.flag_post(user(world.readers[0]), post, "spam")
            ids.append(item_of(post).id)
        db.session.commit()
    response = client_for(world.riley).post(
        "/moderation/queue/spam",
        data={"item_ids": [str(i) for i in ids[:2]], "reason": "Spam: adverts"},
    )
    assert response.status_code == 303
    with app.app_context():
        states = [db.session.get(ReviewItem, i).state for i in ids]
    assert states == [ItemState.REMOVED, ItemState.REMOVED, ItemState.PENDING]


def test_queue_filters(app, world, client_for):
    with app.app_context():
        spam = write(world.author, world.prompt_id, "Advert")
        services.flag_post(user(world.readers[0]), spam, "spam")
        other = write(world.author, world.other_prompt_id, "Tangent")
        services.flag_post(user(world.readers[0]), other, "off_topic")
        spam_item, other_item = item_of(spam).id, item_of(other).id
        db.session.commit()
    riley = client_for(world.riley)
    page = text_of(riley.get("/moderation/queue?reason=spam"))
    assert f"/moderation/items/{spam_item}" in page
    assert f"/moderation/items/{other_item}" not in page
    assert riley.get("/moderation/queue?reason=nonsense").status_code == 404
    assert riley.get("/moderation/queue?page=9").status_code == 404
    decided = text_of(riley.get("/moderation/queue?state=removed"))
    assert "/moderation/items/" not in decided


def test_a_silenced_account_is_told_why_and_until_when(app, world, client_for):
    with app.app_context():
        services.apply_sanction(
            user(world.riley), user(world.author), "silence", "Repeated insults", 3
        )
        db.session.commit()
        until = user(world.author).suspended_until.strftime("%-d %B %Y")
    author = client_for(world.author)
    thread = text_of(author.get(THREAD))
    assert "Your account can't post until" in thread and "Repeated insults" in thread
    assert "/moderation/my-account" in thread
    refused = author.post(THREAD + "/posts", data={"body": "Let me in"})
    assert refused.status_code == 403
    message = text_of(refused)
    assert "because: Repeated insults" in message and until in message
    assert "Let me in" in message  # what they wrote is handed back
    standing = text_of(author.get("/moderation/my-account"))
    assert "Silenced until" in standing and "Appeal this decision" in standing


def test_locked_threads_and_blocked_words_refuse_with_a_message(app, world, client_for):
    with app.app_context():
        services.lock_thread(
            user(world.riley), db.session.get(Prompt, world.prompt_id), "Cooling off"
        )
        services.add_watched_word(user(world.riley), "vermin", "block")
        db.session.commit()
    author = client_for(world.author)
    assert "Locked" in text_of(author.get(THREAD))
    locked = author.post(THREAD + "/posts", data={"body": "Hello"})
    assert locked.status_code == 403 and "locked by the moderators: Cooling off" in text_of(locked)
    blocked = author.post(OTHER_THREAD + "/posts", data={"body": "They are vermin"})
    assert blocked.status_code == 422
    assert "vermin" in text_of(blocked) and "Please change them" in text_of(blocked)
    with app.app_context():
        assert db.session.execute(db.select(func.count(Post.id))).scalar_one() == 0


def test_audit_page_lists_role_changes_and_sanctions_with_filters(app, world, client_for):
    with app.app_context():
        set_role(user(world.admin), user(world.readers[0]), Role.FACILITATOR)
        services.apply_sanction(user(world.riley), user(world.author), "suspend", "Spam", 5)
        db.session.commit()
    riley = client_for(world.riley)
    page = text_of(riley.get("/moderation/audit"))
    assert "role.changed" in page and "sanction.suspend" in page
    only_roles = text_of(riley.get("/moderation/audit?action=role.changed"))
    assert "role.changed" in only_roles and "<td>sanction.suspend</td>" not in only_roles
    by_riley = text_of(riley.get(f"/moderation/audit?moderator={world.riley.id}"))
    assert "<td>sanction.suspend</td>" in by_riley and "<td>role.changed</td>" not in by_riley
    target = text_of(riley.get(f"/moderation/audit?target=users:{world.author.id}"))
    assert "<td>sanction.suspend</td>" in target and "<td>role.changed</td>" not in target
    assert riley.get("/moderation/audit?target=bad").status_code == 404
    assert riley.get("/moderation/audit?action=made.up").status_code == 404


def test_moderation_link_in_the_header_only_for_moderators(app, world, client_for):
    assert 'href="/moderation/queue"' in text_of(client_for(world.riley).get("/"))
    assert 'href="/moderation/queue"' not in text_of(client_for(world.author).get("/"))


def test_watched_words_page(app, world, client_for):
    riley = client_for(world.riley)
    added = riley.post("/moderation/watched-words", data={"phrase": "essay mill", "action": "hold"})
    assert added.status_code == 303
    assert "essay mill" in text_of(riley.get("/moderation/watched-words"))
    again = riley.post("/moderation/watched-words", data={"phrase": "Essay Mill", "action": "flag"})
    assert again.status_code == 422 and "already on the list" in text_of(again)


def test_sanction_and_notes_through_the_account_page(app, world, client_for):
    riley = client_for(world.riley)
    base = f"/moderation/users/{world.author.id}"
    bad = riley.post(base + "/sanctions", data={"kind": "suspend", "days": "", "reason": "x"})
    assert bad.status_code == 422 and "number of days" in text_of(bad)
    ok = riley.post(base + "/sanctions", data={"kind": "suspend", "days": "2", "reason": "Spam"})
    assert ok.status_code == 303
    note = riley.post(base + "/notes", data={"body": "Warned by email"})
    assert note.status_code == 303
    page = text_of(riley.get(base))
    assert "Suspended until" in page and "Warned by email" in page
    assert re.search(r"history", page)


def test_lifting_a_sanction_through_the_account_page(app, world, client_for):
    with app.app_context():
        sanction = services.apply_sanction(
            user(world.riley), user(world.author), "ban", "Spam", None
        )
        db.session.commit()
        sanction_id = sanction.id
    sam = client_for(world.sam)
    empty = sam.post(f"/moderation/sanctions/{sanction_id}/lift", data={"lift-reason": ""})
    assert empty.status_code == 422 and "Please give a reason" in text_of(empty)
    lifted = sam.post(
        f"/moderation/sanctions/{sanction_id}/lift", data={"lift-reason": "Agreed to stop"}
    )
    assert lifted.status_code == 303
    with app.app_context():
        assert not user(world.author).is_suspended
    notices = text_of(client_for(world.author).get("/moderation/notices"))
    assert "You can post again" in notices and "Agreed to stop" in notices


def test_the_audit_page_shows_no_rows_outside_moderation(app, world, client_for):
    from forum.audit import record

    with app.app_context():
        record(user(world.admin), "journal.read", ("journal_entries", 7), "Concern")
        services.add_account_note(user(world.riley), user(world.author), "Watch this")
        db.session.commit()
    page = text_of(client_for(world.riley).get("/moderation/audit"))
    assert "account.note_added" in page and "journal.read" not in page
