"""Signals the core sends; moderation and notifications listen. The core never imports them.

Every signal is sent with the app as sender, inside the transaction of the request or
command that caused it. Receivers may add or change rows in that transaction (an outbox
event, a hold, an audit row) and must flush at most: they never commit or roll back, and
they never do slow work (no network, no rendering of many emails). If a receiver raises,
the whole request fails and rolls back, the event's cause included; so a receiver that
can fail for reasons of its own must catch and log them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from blinker import Namespace
from flask import Flask, current_app

_signals = Namespace()


def sender() -> Flask:
    """The app itself (not the context proxy), which every signal is sent with."""
    return cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Hold:
    """A receiver of ``post_created``'s answer: keep this post from readers until reviewed.

    ``rule`` names what matched (``first_post_with_link``, ``watched_word``...), ``reason``
    says it in words for the moderator.
    """

    rule: str
    reason: str


# --- accounts ---------------------------------------------------------------------------

user_registered = _signals.signal(
    "user-registered",
    doc="""An account was created. kwargs: ``user``. Sent after the user row is flushed.""",
)
signup_confirmation_requested = _signals.signal(
    "signup-confirmation-requested",
    doc="""A new sign-up must confirm its address. kwargs: ``user``, ``url`` (the link to
    email). A receiver queues the email; it must not log the URL (it is a credential).""",
)
signup_attempted_for_existing_account = _signals.signal(
    "signup-attempted-for-existing-account",
    doc="""Someone tried to sign up with an address that has an account. kwargs: ``user``,
    ``login_url``, ``reset_url``. The page answers as for a new address; only the
    address's owner learns of it, by email.""",
)
password_reset_requested = _signals.signal(
    "password-reset-requested",
    doc="""kwargs: ``user``, ``url`` (the reset link, a credential: never log it).""",
)
password_changed = _signals.signal(
    "password-changed",
    doc="""A password was changed or reset; every other session has ended. kwargs: ``user``.""",
)
email_change_requested = _signals.signal(
    "email-change-requested",
    doc="""kwargs: ``user``, ``new_email``, ``url``. The link must go to the NEW address.""",
)
email_changed = _signals.signal(
    "email-changed",
    doc="""kwargs: ``user``, ``old_email``. The old address should be told.""",
)
display_name_changed = _signals.signal(
    "display-name-changed",
    doc="""Someone changed the name shown to others. kwargs: ``user`` (with the new name).
    Sent after the change is flushed; a receiver bumps the data versions of pages it caches
    that show the name.""",
)
role_changed = _signals.signal(
    "role-changed",
    doc="""kwargs: ``user``, ``old_role``, ``new_role``, ``actor`` (None: the command line).
    The core has already written the audit row.""",
)

# --- posts ------------------------------------------------------------------------------

post_created = _signals.signal(
    "post-created",
    doc="""A post was written and flushed, before anyone can see it. kwargs: ``post``.

    A receiver may RETURN a :class:`Hold` to keep the post from readers until a moderator
    reviews it; it must not set ``post.status`` itself. The core holds the post if any
    receiver asks, whatever order the receivers run in. Receivers may add rows (a review
    item); they must not send anything to readers: ``post_published`` says when to. The
    row is written as it will be published (``status`` visible, ``published_at`` set);
    a hold takes that back in the same transaction, so no reader ever sees it.""",
)
post_published = _signals.signal(
    "post-published",
    doc="""A post became visible to readers for the first time: at creation when nothing
    held it, or when a moderator approved a held post. kwargs: ``post``, ``actor`` (who
    approved it; the author at creation). Sent at most once per post. Notifications listen
    here, never to ``post_created``.""",
)
post_status_changed = _signals.signal(
    "post-status-changed",
    doc="""A post's status changed after creation (held, hidden, removed, deleted by its
    author, restored, approved). kwargs: ``post``, ``old_status``, ``new_status``,
    ``actor`` (None: the system), ``reason`` (words for the people concerned, or None).
    Sent after counts are updated, for every change, including the one that also sends
    ``post_published``.""",
)
post_edited = _signals.signal(
    "post-edited",
    doc="""An author changed a post's text. kwargs: ``post`` (with the new text) and
    ``revision`` (the previous text, already stored).""",
)

# --- journals and support -----------------------------------------------------------------

support_requested = _signals.signal(
    "support-requested",
    doc="""A learner asked for a facilitator's support, or raised the urgency of an open
    request. kwargs: ``request`` (the SupportRequest), ``urgency`` (an ``Urgency``:
    ``when_you_can``, ``today`` or ``now``) and ``subject`` (the JournalEntry or Post it
    is about). Sent after the request and the triage row are flushed. A receiver may alert
    the course's facilitators (at once for ``now``); it must never put the subject's text
    in an email, only that someone asked and a link to the queue.""",
)
crisis_signal_detected = _signals.signal(
    "crisis-signal-detected",
    doc="""The distress detector found crisis-tier phrases in a journal entry or a public
    post. kwargs: ``signal`` (the stored SupportSignal), ``subject`` (the JournalEntry or
    Post) and ``author`` (its writer). Sent after the signal and the triage row are
    flushed. Nothing is hidden, delayed or changed; a receiver may alert facilitators,
    never with the text or the matched phrases.""",
)
journal_replied = _signals.signal(
    "journal-replied",
    doc="""A facilitator (or admin) replied to a journal entry. kwargs: ``entry``,
    ``reply`` (the JournalReply) and ``actor`` (who replied). A receiver may tell the
    learner by email that there is a reply, with a link to their journal and WITHOUT the
    text of the entry or of the reply.""",
)
concern_raised = _signals.signal(
    "concern-raised",
    doc="""A participant said they are worried about the author of a public post.
    kwargs: ``concern`` (the Concern: ``post_id``, ``subject_user_id``, ``reporter_id``,
    ``note``). For the post's course facilitators only: never for moderators, never shown
    or sent to the author or other readers, and no message goes to anyone automatically
    but facilitators (and without the note's text in email).""",
)
