"""Moderation's rules through its services, on a real database: flags, holds, decisions,
appeals, sanctions and locks, with one audit row per moderator action."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func

from forum.audit import AuditEntry
from forum.courses.models import Prompt
from forum.database import utcnow
from forum.extensions import db
from forum.service_errors import Conflict, NotFound, PermissionDenied, ServiceError
from forum.threads.models import PostStatus
from forum.threads.services import change_post_status, edit_post
from moderation import services
from moderation.models import (
    Action,
    AppealState,
    Flag,
    FlagState,
    ItemSource,
    ItemState,
    Notice,
    SanctionKind,
    WatchAction,
)
from tests.moderation.conftest import item_of, user, write


def audit_count() -> int:
    return db.session.execute(db.select(func.count(AuditEntry.id))).scalar_one()


def one_audit_row(before: int, action: str) -> AuditEntry:
    rows = list(
        db.session.execute(
            db.select(AuditEntry).where(AuditEntry.id > 0).order_by(AuditEntry.id)
        ).scalars()
    )
    assert len(rows) == before + 1, [r.action for r in rows[before:]]
    assert rows[-1].action == action
    return rows[-1]


def flagged_post(world, body="A reflection someone will flag", reason="off_topic"):
    post = write(world.author, world.prompt_id, body)
    services.flag_post(user(world.readers[0]), post, reason)
    return post


# --- flags -------------------------------------------------------------------------------


def test_flag_rules(app, world):
    with app.app_context():
        post = write(world.author, world.prompt_id, "My reflection")
        with pytest.raises(PermissionDenied, match="your own post"):
            services.flag_post(user(world.author), post, "spam")
        reader = user(world.readers[0])
        with pytest.raises(ServiceError, match="choose a reason"):
            services.flag_post(reader, post, "tone")
        with pytest.raises(ServiceError, match="what is wrong") as other:
            services.flag_post(reader, post, "other", "   ")
        assert other.value.field == "note"
        services.flag_post(reader, post, "other", "Mentions a classmate by name")
        with pytest.raises(Conflict, match="already flagged"):
            services.flag_post(reader, post, "spam")
        item = item_of(post)
        assert item.open_flags == 1 and item.state == ItemState.PENDING
        assert post.status == PostStatus.VISIBLE  # one flag: still shown


def test_daily_flag_limit(app, world):
    app.config["MODERATION_FLAGS_PER_DAY"] = 2
    with app.app_context():
        reader = user(world.readers[0])
        posts = [write(world.author, world.prompt_id, f"Post number {n}") for n in range(3)]
        services.flag_post(reader, posts[0], "spam")
        services.flag_post(reader, posts[1], "spam")
        with pytest.raises(ServiceError, match="tomorrow"):
            services.flag_post(reader, posts[2], "spam")


def test_threshold_hides_pending_review_and_snapshot_survives_edits(app, world):
    with app.app_context():
        post = write(world.author, world.prompt_id, "The *original* words")
        original_html = post.body_html
        for n, reader in enumerate(world.readers[:2]):
            services.flag_post(user(reader), post, "harassment")
            assert post.status == PostStatus.VISIBLE, n
        edit_post(user(world.author), post, "Edited to hide the evidence")
        services.flag_post(user(world.readers[2]), post, "harassment")
        assert post.status == PostStatus.HIDDEN  # the third flag (default threshold)
        item = item_of(post)
        assert item.auto_hidden and item.state == ItemState.PENDING
        (notice,) = db.session.execute(db.select(Notice)).scalars()
        assert notice.title == "Your post is hidden while a moderator looks at it"
        assert "Reader 1" not in notice.body  # never who flagged
        assert item.distressing
        assert item.snapshot_source == "The *original* words"
        assert item.snapshot_html == original_html
        assert item.snapshot_author_id == world.author.id
        # Deleting the post doesn't erase the evidence either.
        change_post_status(user(world.author), post, PostStatus.DELETED)
        db.session.expire_all()
        assert item_of(post).snapshot_source == "The *original* words"


def test_a_moderators_flag_hides_at_once(app, world):
    with app.app_context():
        post = write(world.author, world.prompt_id, "Something")
        services.flag_post(user(world.riley), post, "privacy")
        assert post.status == PostStatus.HIDDEN


def test_priority_counts_severity_and_reporter_accuracy(app, world):
    with app.app_context():
        spam = flagged_post(world, "An advert", "spam")
        off = flagged_post(world, "A tangent", "off_topic")
        assert item_of(spam).priority > item_of(off).priority
        # Reader 1's flags led to action every time; reader 2's never did.
        good, bad = user(world.readers[1]), user(world.readers[2])
        for n in range(2):
            p1 = write(world.author, world.prompt_id, f"Past one {n}")
            services.flag_post(good, p1, "spam")
            it = item_of(p1)
            services.decide(user(world.riley), it, "remove", "Spam", it.version)
            p2 = write(world.author, world.prompt_id, f"Past two {n}")
            services.flag_post(bad, p2, "spam")
            it = item_of(p2)
            services.decide(user(world.riley), it, "keep", "Fine", it.version)
        a = write(world.author, world.prompt_id, "Flagged by the accurate one")
        b = write(world.author, world.prompt_id, "Flagged by the other one")
        services.flag_post(good, a, "spam")
        services.flag_post(bad, b, "spam")
        assert item_of(a).priority > item_of(b).priority


# --- the state machine ---------------------------------------------------------------------


def test_every_transition_writes_one_audit_row_and_moves_the_post(app, world):
    with app.app_context():
        post = flagged_post(world)
        item = item_of(post)
        riley = user(world.riley)
        steps = [
            ("hide", ItemState.HIDDEN, PostStatus.HIDDEN),
            ("keep", ItemState.KEPT, PostStatus.VISIBLE),
            ("remove", ItemState.REMOVED, PostStatus.REMOVED),
            ("hide", ItemState.HIDDEN, PostStatus.HIDDEN),
            ("request_revision", ItemState.REVISION_REQUESTED, PostStatus.HELD),
            ("remove", ItemState.REMOVED, PostStatus.REMOVED),
            ("keep", ItemState.KEPT, PostStatus.VISIBLE),
        ]
        for action, state, status in steps:
            before = audit_count()
            services.decide(riley, item, action, f"Because {action}", item.version)
            row = one_audit_row(before, f"moderation.{action}")
            assert (row.subject_type, row.subject_id, row.actor_id) == ("posts", post.id, riley.id)
            assert row.reason == f"Because {action}"
            assert item.state == state and post.status == status, action
        # Kept items can't be "kept" again: that is not a change.
        with pytest.raises(ServiceError, match="already kept"):
            services.decide(riley, item, "keep", "again", item.version)
        notices = db.session.execute(
            db.select(func.count(Notice.id)).where(Notice.user_id == world.author.id)
        ).scalar_one()
        assert notices == len(steps)


def test_a_reason_is_required(app, world):
    with app.app_context():
        item = item_of(flagged_post(world))
        with pytest.raises(ServiceError, match="give a reason") as refused:
            services.decide(user(world.riley), item, "remove", "  ", item.version)
        assert refused.value.field == "reason"


def test_keep_dismisses_flags_and_other_actions_mark_them_actioned(app, world):
    with app.app_context():
        kept = item_of(flagged_post(world, "One"))
        services.decide(user(world.riley), kept, "keep", "Anger is allowed", kept.version)
        removed = item_of(flagged_post(world, "Two"))
        services.decide(user(world.riley), removed, "remove", "Dehumanising", removed.version)
        states = dict(db.session.execute(db.select(Flag.item_id, Flag.state)).all())
        assert states == {kept.id: FlagState.DISMISSED, removed.id: FlagState.ACTIONED}


def test_a_kept_post_flagged_again_returns_to_the_queue(app, world):
    with app.app_context():
        post = flagged_post(world)
        item = item_of(post)
        services.decide(user(world.riley), item, "keep", "Fine", item.version)
        services.flag_post(user(world.readers[1]), post, "spam")
        assert item.state == ItemState.PENDING and item.open_flags == 1


def test_revision_requested_goes_back_to_the_queue_when_the_author_edits(app, world):
    with app.app_context():
        post = flagged_post(world, "It names my classmate Jo Bloggs", "privacy")
        item = item_of(post)
        services.decide(
            user(world.riley), item, "request_revision", "Please remove the name", item.version
        )
        assert post.status == PostStatus.HELD
        edit_post(user(world.author), post, "It names a classmate")
        assert item.state == ItemState.PENDING
        assert post.status == PostStatus.HELD  # still waits for a moderator
        services.decide(user(world.sam), item, "keep", "Thanks for revising", item.version)
        assert post.status == PostStatus.VISIBLE


def test_a_stale_decision_is_refused_naming_who_decided(app, world):
    with app.app_context():
        item = item_of(flagged_post(world))
        seen = item.version
        services.decide(user(world.riley), item, "remove", "Spam", seen)
        with pytest.raises(Conflict, match="already decided by Riley a moment ago"):
            services.decide(user(world.sam), item, "keep", "Looks fine", seen)


def test_a_claim_keeps_others_from_deciding(app, world):
    with app.app_context():
        item = item_of(flagged_post(world))
        services.claim_item(user(world.riley), item)
        with pytest.raises(Conflict, match="Riley is reviewing this item"):
            services.claim_item(user(world.sam), item)
        with pytest.raises(Conflict, match="Riley is reviewing"):
            services.decide(user(world.sam), item, "keep", "ok", item.version)
        services.decide(user(world.riley), item, "keep", "ok", item.version)
        assert item.claimed_by is None


def test_only_moderators_decide(app, world):
    with app.app_context():
        item = item_of(flagged_post(world))
        with pytest.raises(PermissionDenied):
            services.decide(user(world.readers[1]), item, "remove", "x", item.version)


def test_bulk_spam_removes_each_with_one_audit_row(app, world):
    with app.app_context():
        items = [item_of(flagged_post(world, f"Buy now {n}", "spam")) for n in range(3)]
        before = audit_count()
        count = services.bulk_remove_spam(
            user(world.riley), [i.id for i in items], "Spam: link exchange"
        )
        assert count == 3
        rows = list(db.session.execute(db.select(AuditEntry).order_by(AuditEntry.id)).scalars())
        assert [r.action for r in rows[before:]] == ["moderation.remove_spam"] * 3
        assert all(i.state == ItemState.REMOVED for i in items)


# --- appeals -----------------------------------------------------------------------------


def test_appeal_once_decided_by_a_different_moderator(app, world):
    with app.app_context():
        post = flagged_post(world)
        item = item_of(post)
        services.decide(user(world.riley), item, "remove", "Off-topic", item.version)
        with pytest.raises(NotFound):
            services.appeal_item(user(world.readers[0]), item, "Not mine to appeal")
        appeal = services.appeal_item(user(world.author), item, "It was on topic, honestly")
        assert item.state == ItemState.APPEALED
        with pytest.raises(Conflict, match="once"):
            services.appeal_item(user(world.author), item, "Again")
        with pytest.raises(Conflict, match="under appeal"):
            services.decide(user(world.sam), item, "keep", "x", item.version)
        with pytest.raises(PermissionDenied, match="different moderator"):
            services.decide_appeal(user(world.riley), appeal, "overturned", "Fine", 0)
        before = audit_count()
        services.decide_appeal(user(world.sam), appeal, "overturned", "It was on topic", 0)
        one_audit_row(before, "appeal.overturned")
        assert appeal.state == AppealState.OVERTURNED
        assert item.state == ItemState.KEPT and post.status == PostStatus.VISIBLE


def test_an_upheld_appeal_leaves_the_decision(app, world):
    with app.app_context():
        post = flagged_post(world)
        item = item_of(post)
        services.decide(user(world.riley), item, "hide", "Shares a story", item.version)
        appeal = services.appeal_item(user(world.author), item, "Please look again")
        services.decide_appeal(user(world.sam), appeal, "upheld", "It stays hidden", 0)
        assert item.state == ItemState.HIDDEN and post.status == PostStatus.HIDDEN
        with pytest.raises(Conflict, match="already decided by Sam"):
            services.decide_appeal(user(world.admin), appeal, "overturned", "x", 0)


# --- holds -------------------------------------------------------------------------------


def test_new_accounts_first_post_with_a_link_is_held(app, world):
    with app.app_context():
        post = write(world.author, world.prompt_id, "Cheap essays at https://spam.example")
        assert post.status == PostStatus.HELD and post.published_at is None
        item = item_of(post)
        assert item.source == ItemSource.HOLD and item.hold_rule == "first_post_with_link"
        (notice,) = db.session.execute(db.select(Notice)).scalars()
        assert notice.user_id == world.author.id and notice.item_id == item.id
        assert notice.title == "Your post is waiting for a moderator"
        # An older account may post links.
        old = user(world.readers[0])
        old.created_at = utcnow() - timedelta(days=30)
        ok = write(old, world.prompt_id, "A useful article: https://example.org/reading")
        assert ok.status == PostStatus.VISIBLE


def test_repeated_posts_across_threads_are_held(app, world):
    with app.app_context():
        text = "Come and join my group for the best discussion on this topic anywhere"
        first = write(world.author, world.prompt_id, text)
        again = write(world.author, world.other_prompt_id, text.upper() + "!!")
        assert first.status == PostStatus.VISIBLE
        assert again.status == PostStatus.HELD
        assert item_of(again).hold_rule == "repeated_post"


def test_watched_words_hold_flag_and_block(app, world):
    with app.app_context():
        riley = user(world.riley)
        for phrase, action in (("vermin", "block"), ("essay mill", "hold"), ("idiot", "flag")):
            before = audit_count()
            services.add_watched_word(riley, phrase, action)
            one_audit_row(before, "watched_word.added")
        held = write(world.author, world.prompt_id, "Try the Essay-Mill, friends")
        assert held.status == PostStatus.HELD and item_of(held).hold_rule == "watched_word"
        flagged = write(world.author, world.prompt_id, "What an IDIOT I was back then")
        assert flagged.status == PostStatus.VISIBLE
        assert item_of(flagged).open_flags == 1
        with pytest.raises(ServiceError, match="vermin"):
            services.check_posting_allowed(user(world.author), world.prompt_id, "They are vermin")
        # Whole words only.
        services.check_posting_allowed(user(world.author), world.prompt_id, "Verminous times")
        word = services.watched_words()[0]
        before = audit_count()
        services.remove_watched_word(riley, word.id)
        one_audit_row(before, "watched_word.removed")


# --- sanctions and locks -----------------------------------------------------------------


def test_sanctions_set_suspended_until_and_say_why(app, world):
    with app.app_context():
        author = user(world.author)
        before = audit_count()
        sanction = services.apply_sanction(user(world.riley), author, "silence", "Insults", 3)
        one_audit_row(before, "sanction.silence")
        assert author.is_suspended
        assert abs(author.suspended_until - (utcnow() + timedelta(days=3))) < timedelta(minutes=1)
        with pytest.raises(PermissionDenied, match=r"can't post until .* because: Insults"):
            services.check_posting_allowed(author, world.prompt_id, "hello")
        with pytest.raises(ServiceError, match="number of days"):
            services.apply_sanction(user(world.riley), author, "suspend", "x", 0)
        ban = services.apply_sanction(user(world.riley), author, SanctionKind.BAN, "Spam", None)
        assert author.suspended_until == services.BAN_UNTIL
        assert "until a moderator lifts it" in services.sanction_message(ban)
        before = audit_count()
        services.lift_sanction(user(world.sam), ban, "Agreed to the guidelines")
        one_audit_row(before, "sanction.lifted")
        assert author.suspended_until == sanction.ends_at  # the silence still runs
        with pytest.raises(PermissionDenied, match="own account"):
            services.apply_sanction(user(world.riley), user(world.riley), "ban", "x", None)
        with pytest.raises(PermissionDenied, match="Only an admin"):
            services.apply_sanction(user(world.riley), user(world.sam), "ban", "x", None)


def test_sanction_appeal_overturned_lifts_it(app, world):
    with app.app_context():
        author = user(world.author)
        sanction = services.apply_sanction(user(world.riley), author, "suspend", "Spam", 7)
        appeal = services.appeal_sanction(author, sanction, "It was a mistake")
        services.decide_appeal(user(world.sam), appeal, "overturned", "Agreed", 0)
        assert sanction.lifted_at is not None and not author.is_suspended
        rows = list(
            db.session.execute(
                db.select(AuditEntry.action).where(AuditEntry.subject_type == "users")
            ).scalars()
        )
        assert rows == ["sanction.suspend", "appeal.overturned"]


def test_lock_and_unlock_a_thread(app, world):
    with app.app_context():
        prompt = db.session.get(Prompt, world.prompt_id)
        before = audit_count()
        services.lock_thread(user(world.riley), prompt, "Heated; taking a break")
        one_audit_row(before, "thread.locked")
        with pytest.raises(PermissionDenied, match="locked by the moderators"):
            services.check_posting_allowed(user(world.author), prompt.id, "hi")
        # A post that gets past the check anyway (a command, a race) is held.
        held = write(world.author, prompt.id, "Written anyway")
        assert held.status == PostStatus.HELD
        assert item_of(held).hold_rule == "thread_locked"
        before = audit_count()
        services.unlock_thread(user(world.riley), prompt, "Calmer now")
        one_audit_row(before, "thread.unlocked")
        assert write(world.author, prompt.id, "Back again").status == PostStatus.VISIBLE


def test_private_notes_are_audited(app, world):
    with app.app_context():
        before = audit_count()
        services.add_account_note(user(world.riley), user(world.author), "Spoke to them")
        one_audit_row(before, "account.note_added")
        assert [n.body for n in services.notes_on(user(world.author))] == ["Spoke to them"]


def test_watch_actions_cover_the_enum():
    assert {a.value for a in WatchAction} == {"hold", "flag", "block"}
    assert {a.value for a in Action} == {"keep", "hide", "remove", "request_revision"}


def test_a_form_made_stale_by_an_edit_says_the_item_changed(app, world):
    with app.app_context():
        post = flagged_post(world)
        item = item_of(post)
        services.decide(user(world.riley), item, "request_revision", "Please revise", item.version)
        seen = item.version
        edit_post(user(world.author), post, "Revised text")
        with pytest.raises(Conflict, match="changed since you opened it"):
            services.decide(user(world.sam), item, "keep", "ok", seen)
