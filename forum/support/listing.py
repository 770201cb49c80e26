"""The facilitators' queue as rendered HTML: one rendering shared by every facilitator of
the same courses, cached under the queue's data version, with each reader's own parts put
in per request.

A rendering leaves marks where the page differs from one reader or one moment to the next:

- ``\\x01``: the reader's CSRF token field (the same for every form of a page);
- ``\\x00w<microseconds>\\x00``: how long an item has waited, counted at each request;
- ``\\x00m<user id>\\x00 … \\x00o\\x00 … \\x00z\\x00``: what the holder of a claim sees ("Claimed
  by you", "Let go"), then what everyone else sees ("Claimed by Fay", "Claim").

Names and titles never hold control characters (``forum.text.clean_line``, and
``forum.support.queue`` drops them again), so no stored text can be read as a mark.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_wtf.csrf import generate_csrf
from markupsafe import escape

from forum import cache
from forum.accounts.models import User
from forum.database import utcnow
from forum.support import queue as queue_reads
from forum.support.queue import QueueFilters, QueuePage, seconds_words

MARK = "\x00"
CSRF_MARK = "\x01"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    # Whole microseconds since the epoch: exact, unlike a float timestamp.
    return (moment - _EPOCH) // _MICROSECOND


class Marks:
    """What a cached rendering writes where a reader's own parts go (see the module doc).

    Plain text: escaping leaves control characters as they are, so nothing here is Markup.
    """

    csrf = CSRF_MARK
    other = f"{MARK}o{MARK}"
    end = f"{MARK}z{MARK}"

    @staticmethod
    def mine(holder_id: int) -> str:
        return f"{MARK}m{int(holder_id)}{MARK}"

    @staticmethod
    def waited(since: datetime) -> str:
        return f"{MARK}w{_micros(since)}{MARK}"


def _csrf_field() -> str:
    """What a FlaskForm's ``csrf_token`` field renders as (nothing when CSRF is off)."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return ""
    # Asked only for a page with forms, as a form would (it may start the session's token).
    token = escape(generate_csrf())
    return f'<input id="csrf_token" name="csrf_token" type="hidden" value="{token}">'


# A rendering, cut at its marks once: the text before the first mark, then for each mark
# (what it is, its number, the text up to the next mark). Every text is kept cut at the
# CSRF marks too, so putting the token in is one join.
_WAITED, _HOLDER, _OTHERS, _END = range(4)
_KINDS = {"w": _WAITED, "m": _HOLDER, "o": _OTHERS, "z": _END}
Pieces = tuple[str, ...]
Compiled = tuple[Pieces, list[tuple[int, int, Pieces]], bool]


def compile_fragment(fragment: str) -> Compiled:
    """A cached rendering, cut at its marks (see ``personalise``)."""
    parts = fragment.split(MARK)
    marks = []
    for index in range(1, len(parts), 2):
        mark = parts[index]
        kind = _KINDS[mark[0]]
        number = int(mark[1:]) if kind in (_WAITED, _HOLDER) else 0
        marks.append((kind, number, tuple(parts[index + 1].split(CSRF_MARK))))
    return tuple(parts[0].split(CSRF_MARK)), marks, CSRF_MARK in fragment


def personalise(compiled: Compiled, user_id: int, now: datetime) -> str:
    """A cached rendering (cut by ``compile_fragment``) as ``user_id`` sees it at ``now``."""
    head, marks, has_forms = compiled
    join = (_csrf_field() if has_forms else "").join
    out = [join(head)]
    now_micros = _micros(now)
    shown = True  # False inside the variant of a claim that is not this reader's
    holder = False
    for kind, number, pieces in marks:
        if kind == _WAITED:
            if shown:
                out.append(seconds_words((now_micros - number) // 1_000_000))
        elif kind == _HOLDER:
            holder = shown = number == user_id
        elif kind == _OTHERS:
            shown = not holder
        else:
            shown = True
        if shown:
            out.append(join(pieces))
    return "".join(out)


# Renderings already cut, in this worker, by their cache key (a key carries the data
# versions, so an entry is never stale); only the last few are kept.
_COMPILED_MAX = 32


def _compiled_renderings() -> OrderedDict[str, Compiled]:
    extensions = current_app.extensions
    kept = extensions.get("support_queue_renderings")
    if kept is None:
        kept = extensions["support_queue_renderings"] = OrderedDict()
    return kept


def queue_listing(
    actor: User, filters: QueueFilters, page: int, render: Callable[[QueuePage], str]
) -> str:
    """One page of the actor's queue as HTML: from the shared cache when a facilitator of
    the same courses saw it at the same data version, else read and ``render``-ed (and
    kept); then made the actor's own. Two statements when cached (the user's, the version)."""
    version = queue_reads.queue_version(actor)
    key = f"{cache.render_epoch()}:{queue_reads.listing_key(version, filters, page)}"
    kept = _compiled_renderings()
    compiled = kept.get(key)
    if compiled is None:
        raw = cache.get(key)
        if raw is None:
            fragment = render(queue_reads.queue_page(actor, filters, page))
            cache.put(key, fragment.encode())
        else:
            fragment = raw.decode()
        compiled = kept[key] = compile_fragment(fragment)
        while len(kept) > _COMPILED_MAX:
            kept.popitem(last=False)
    return personalise(compiled, actor.id, utcnow())
