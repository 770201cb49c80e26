"""The review queue as every moderator sees it, rendered once per data version and shared.

The appeals, the filters and a page of items are the same for every moderator until the
queue's data changes, so they are rendered once and kept in the shared page cache
(forum/cache.py) under the queue's data version (services.queue_state: bumped at the
commit of every transaction that changes review items, flags or appeals), the modules
the filter lists, the filters and the page. Never stale: a change means a new key.

What may change without the queue's data changing is never taken from the cache: people's
names and thread titles (changed outside moderation: read for every request), times in
words ("3 minutes ago"), claims (they expire) and the CSRF token. The shared HTML keeps a
field where each goes; ``fill`` puts this request's values in.

Each worker also keeps the last shared part it used for each filter and page, under the
same key (so it too is never stale): then the request needs one statement besides the
user's, reading the version together with the names and titles that part shows.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime

from flask import current_app, g, render_template, request, url_for
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from forum import cache
from forum.accounts.models import User
from forum.database import utcnow
from forum.templating import humanize_time
from moderation import services
from moderation.forms import BulkSpamForm
from moderation.models import FLAG_REASON_LABELS, ItemState

# While rendering, a field is a mark between NULs (never in text: forum.text drops control
# characters); ``SharedQueue.compile`` then leaves only the field's name between them, so
# filling in is a split and a join.
_MARK = re.compile("\x00(ago|u|p|c|csrf):([^\x00]*)\x00")
_LAYOUT = 2  # of the stored payload, not of the data: a new layout ignores old entries
_KEPT_PER_WORKER = 32  # filters and pages whose last shared part a worker keeps
_lock = threading.Lock()


def _mark(kind: str, value: object = "") -> str:
    # Our own kind and an int or a time: nothing to escape, so autoescaping keeps it whole.
    return f"\x00{kind}:{value}\x00"


@functools.lru_cache(maxsize=8192)
def _parse_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


@dataclass(frozen=True)
class SharedQueue:
    """The shared part of the queue page, with the fields ``fill`` puts values in."""

    html: str  # literal text and field names, separated by NULs
    stamps: list[str]  # field a<n>: a time, in words
    user_ids: list[int]  # field u<id>: a person's name
    prompt_ids: list[int]  # field p<id>: a thread's title
    claims: dict[str, tuple[int, str]]  # field c<item id>: who holds it, until when
    key: str = ""  # the cache key it was stored under
    parts: tuple[str, ...] = field(init=False, default=())  # html split at the NULs

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.html.split("\x00")))

    @classmethod
    def compile(cls, html: str, claims: dict[str, tuple[int, str]]) -> SharedQueue:
        stamps: dict[str, str] = {}
        users = {holder for holder, _until in claims.values()}
        prompts: set[int] = set()

        def _field(match: re.Match[str]) -> str:
            kind, value = match.groups()
            if kind == "ago":
                return "\x00" + stamps.setdefault(value, f"a{len(stamps)}") + "\x00"
            if kind == "u":
                users.add(int(value))
            elif kind == "p":
                prompts.add(int(value))
            return "\x00" + kind + value + "\x00"

        html = _MARK.sub(_field, html)
        return cls(html, list(stamps), sorted(users), sorted(prompts), claims)

    def dumps(self) -> bytes:
        head = [_LAYOUT, self.stamps, self.user_ids, self.prompt_ids, self.claims]
        return f"{json.dumps(head)}\n{self.html}".encode()

    @classmethod
    def loads(cls, raw: bytes) -> SharedQueue | None:
        head, _, html = raw.decode().partition("\n")
        fields = json.loads(head)
        if fields[0] != _LAYOUT:
            return None
        _layout, stamps, user_ids, prompt_ids, claims = fields
        return cls(html, stamps, user_ids, prompt_ids, claims)


def _csrf_enabled() -> bool:
    return bool(current_app.config.get("WTF_CSRF_ENABLED", True))


def _render(
    moderator: User,
    filters: services.QueueFilter,
    page: int,
    per_page: int,
    modules: list[tuple[int, str]],
) -> SharedQueue | None:
    data = services.queue_page(moderator, filters, page, per_page)
    if data is None:
        return None
    claims = {
        str(item.id): (item.claimed_by, item.claimed_until.isoformat())
        for item in data.items
        if item.claimed_by and item.claimed_until
    }
    g.hearth_defer_ago = True  # "3 minutes ago" stays a mark (forum.templating)
    try:
        html = render_template(
            "moderation/_queue_shared.html",
            page=data,
            appeals=data.appeals,
            filters=filters,
            modules=modules,
            states=list(ItemState),
            reason_labels=FLAG_REASON_LABELS,
            bulk_form=BulkSpamForm(formdata=None),
            csrf_enabled=_csrf_enabled(),
            csrf_mark=_mark("csrf"),
            name=lambda user_id: _mark("u", user_id),
            title=lambda prompt_id: _mark("p", prompt_id),
            claim=lambda item_id: _mark("c", item_id),
            # One URL prefix for all rows: url_for per row would cost more than the row.
            item_url=url_for("moderation.item", item_id=1).removesuffix("1"),
            appeal_url=url_for("moderation.appeal", appeal_id=1).removesuffix("1"),
        )
    finally:
        g.hearth_defer_ago = False
    return SharedQueue.compile(html, claims)


def _kept() -> OrderedDict[tuple[str, ...], SharedQueue]:
    return current_app.extensions.setdefault("moderation_queue_kept", OrderedDict())


def shared_queue(
    moderator: User, filters: services.QueueFilter, page: int, per_page: int
) -> tuple[SharedQueue, services.QueueLabels] | None:
    """The shared part of a queue page and the names and titles it shows; None past the
    last page. From this worker's memory, the shared cache, or rendered and stored.

    The version is read before any of the queue's rows, so what is stored under it is at
    least as new as it: a change committed meanwhile bumps the version, and the next
    reader looks under the new one.
    """
    where = (
        request.script_root,
        filters.state.value,
        filters.reason.value if filters.reason else "",
        str(filters.module_id or ""),
        str(page),
        str(per_page),
        str(int(_csrf_enabled())),
    )
    kept = _kept()
    last = kept.get(where)
    # The names and titles the page showed last time, read with the version: usually the
    # page is the same, and they are all this request needs.
    state = services.queue_state(last.user_ids if last else [], last.prompt_ids if last else [])
    if state.version is None:
        shared = _render(moderator, filters, page, per_page, state.modules)
        if shared is None:
            return None
        return shared, services.queue_labels(shared.user_ids, shared.prompt_ids)
    key = ":".join(
        (
            cache.render_epoch(),
            "moderation-queue",
            state.version,
            # The filter's modules are read on every request; the key says which they were.
            hashlib.blake2b(repr(state.modules).encode(), digest_size=12).hexdigest(),
            *where,
        )
    )
    if last is not None and last.key == key:
        with _lock:
            if where in kept:
                kept.move_to_end(where)
        return last, state.labels
    raw = cache.get(key)
    shared = SharedQueue.loads(raw) if raw is not None else None
    if shared is None:
        shared = _render(moderator, filters, page, per_page, state.modules)
        if shared is None:
            return None
        cache.put(key, shared.dumps())
    shared = replace(shared, key=key)
    with _lock:
        kept[where] = shared
        kept.move_to_end(where)
        while len(kept) > _KEPT_PER_WORKER:
            kept.popitem(last=False)
    return shared, services.queue_labels(shared.user_ids, shared.prompt_ids)


def fill(shared: SharedQueue, labels: services.QueueLabels, moderator: User) -> Markup:
    """The shared part with this request's names, titles, times, claims and CSRF token;
    every value is escaped here."""
    now = utcnow()
    values = {"csrf": str(escape(generate_csrf()))}
    for n, stamp in enumerate(shared.stamps):
        values[f"a{n}"] = humanize_time(_parse_time(stamp))
    names = {uid: str(escape(labels.names.get(uid, ""))) for uid in shared.user_ids}
    for uid, name in names.items():
        values[f"u{uid}"] = name
    for pid in shared.prompt_ids:
        values[f"p{pid}"] = str(escape(labels.titles.get(pid, "")))
    for item_id, (holder, until) in shared.claims.items():
        # A claim shows while it lasts and its holder's account exists (as before).
        live = holder in labels.names and _parse_time(until) > now
        who = "you" if holder == moderator.id else names[holder]
        values[f"c{item_id}"] = f" · taken by {who}" if live else ""
    parts = list(shared.parts)
    parts[1::2] = [values[field] for field in shared.parts[1::2]]
    # _queue_shared.html's own autoescaped output, with escaped values put in.
    return Markup("".join(parts))  # noqa: S704
