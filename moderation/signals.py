"""Signals moderation sends; notifications listens. Moderation never imports notifications.

Each is sent with the app as sender, inside the transaction of the decision: receivers
may add rows (an outbox event) and flush, never commit or do slow work.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

moderation_decided = _signals.signal(
    "moderation-decided",
    doc="""A moderator decided a review item. kwargs: ``item``, ``post``, ``action`` (an
    ``Action``), ``reason`` (words for the author), ``moderator``, ``author`` (the post's
    writer) and ``reporters`` (the people whose flags this decision resolved; never to be
    shown to the author).""",
)
appeal_decided = _signals.signal(
    "appeal-decided",
    doc="""A moderator decided an appeal. kwargs: ``appeal``, ``outcome`` (an
    ``AppealState``), ``reason``, ``moderator``, ``author`` (who appealed).""",
)
sanction_applied = _signals.signal(
    "sanction-applied",
    doc="""An account was silenced, suspended or banned, or a sanction was lifted.
    kwargs: ``sanction``, ``user``, ``moderator``, ``lifted`` (True when lifted).""",
)
