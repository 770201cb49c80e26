"""Thread pages: reading, posting, replying, editing, deleting."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from markupsafe import Markup

from forum import cache
from forum.accounts.models import Role
from forum.courses.services import SLUG_RE, THREAD_VERSION, find_prompt
from forum.errors import reshow_form_on_error
from forum.extensions import limiter, unlimited_read
from forum.front_cache import page_version, register_anonymous_page
from forum.threads import frames, services
from forum.threads.forms import DeletePostForm, EditPostForm, PostForm, new_idempotency_key
from forum.threads.models import Post, PostStatus

bp = Blueprint("threads", __name__)
# An anonymous reader's thread pages are replayed by the front cache while the thread's
# versions hold (forum/front_cache.py).
bp.record_once(lambda state: register_anonymous_page(state.app, "threads.thread", THREAD_VERSION))

# A page number people could mean: digits only, and short enough to be a real page.
PAGE_RE = re.compile(r"[0-9]{1,9}")


def _post_rate_limit() -> str:
    return current_app.config["POST_RATE_LIMIT"]


def _rate_key() -> str:
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return request.remote_addr or "unknown"


# One budget for every kind of writing (posts, replies, edits), per account.
post_limit = limiter.shared_limit(
    _post_rate_limit,
    scope="posting",
    key_func=_rate_key,
    methods=["POST"],
    error_message="You've posted several times in a short while. Please wait a minute, "
    "then send it again.",
)


def _find_prompt(course_slug: str, module_slug: str, prompt_slug: str):
    # A slug that can't exist (NUL bytes, odd characters, too long) never reaches the database.
    if not all(SLUG_RE.fullmatch(s) for s in (course_slug, module_slug, prompt_slug)):
        abort(404)
    prompt = find_prompt(course_slug, module_slug, prompt_slug)
    if prompt is None:
        abort(404)
    return prompt


def _thread_args(prompt) -> dict[str, str]:
    module = prompt.module
    return {
        "course_slug": module.course.slug,
        "module_slug": module.slug,
        "prompt_slug": prompt.slug,
    }


def _thread_url(prompt, page: int = 1, anchor: str | None = None) -> str:
    args: dict[str, Any] = dict(_thread_args(prompt))
    if page > 1:
        args["page"] = str(page)
    if anchor:
        args["_anchor"] = anchor
    return url_for("threads.thread", **args)


def _visible_post_or_404(post_id: int) -> Post:
    post = services.get_post(post_id)
    if post is None or not services.can_view_post(current_user, post):
        abort(404)
    return post


def _permalink(post: Post):
    return redirect(url_for("threads.permalink", post_id=post.id), code=303)


def _compose(template_args: dict, status: int = 200):
    template_args.setdefault("max_chars", current_app.config["POST_MAX_CHARS"])
    return render_template("threads/compose.html", **template_args), status


def _posting_blocked():
    reason = services.posting_blocked_reason(current_user)
    if reason:
        abort(403, reason)


@bp.get("/c/<course_slug>/<module_slug>/<prompt_slug>")
@unlimited_read
def thread(course_slug: str, module_slug: str, prompt_slug: str):
    raw_page = request.args.get("page", "1")
    if not PAGE_RE.fullmatch(raw_page):
        abort(404, services.NO_SUCH_PAGE)
    number = int(raw_page)
    if not all(SLUG_RE.fullmatch(s) for s in (course_slug, module_slug, prompt_slug)):
        abort(404)
    slugs = {"course_slug": course_slug, "module_slug": module_slug, "prompt_slug": prompt_slug}
    # Anonymous readers share one rendered page per data version; only the canonical
    # address of a page is cached (its "Log in" link carries the address).
    canonical = b"" if number == 1 else f"page={number}".encode()
    if request.query_string == canonical and cache.anonymous_cacheable():
        version = page_version("threads.thread", **slugs)
        if version is None:
            abort(404)
        return cache.cached_page(
            f"thread:{version}:{number}",
            lambda: _render_thread(_find_prompt(course_slug, module_slug, prompt_slug), number),
        )
    if request.query_string == canonical and current_user.is_authenticated:
        framed = _framed_thread(slugs, number)
        if framed is not None:
            return framed
    prompt = _find_prompt(course_slug, module_slug, prompt_slug)
    return _render_thread(prompt, number)


def _framed_thread(slugs: dict[str, str], number: int) -> str | None:
    """The page from the frame readers like this one share (forum/threads/frames.py), or
    None when it must be rendered in full."""
    user = current_user._get_current_object()
    if not frames.frame_reader_ok(user):
        return None
    found = frames.reader_versions(slugs, user)
    if found is None:
        abort(404)
    row, said = found
    prompt_ref = (row[3], row[5])
    key = frames.frame_key(repr(row), number, user, said)

    def _render(rendered: dict[str, Any]) -> frames.Frame:
        prompt = _find_prompt(**slugs)
        viewer = frames.FrameViewer(user.role)
        html = frames.render_with_marks(lambda: _render_thread(prompt, number, viewer, rendered))
        starts, _total = services.page_starts(prompt)
        start = starts[number - 1] if 1 < number <= len(starts) else None
        stop = starts[number] if number < len(starts) else None
        return frames.Frame(
            html,
            [list(item) for item in rendered["shared"]],
            [start[0].isoformat(), start[1]] if start else None,
            [stop[0].isoformat(), stop[1]] if stop else None,
        )

    rendered: dict[str, Any] = {}
    frame = frames.get_frame(key, lambda: _render(rendered))
    loaded: list[Post] | None = rendered.get("own")
    if loaded is not None:  # rendered just now, with the reader's own posts
        mine = [(post.id, post.created_at.isoformat()) for post in loaded]
    else:
        mine = frames.own_posts(frame, prompt_ref[0], user)
    if mine and not frame.items:
        return None  # only their own (held) posts: the page is laid out differently
    own = _own_items(repr(row), user, mine, loaded) if mine else []
    return frames.fill(frame, user, frames.posts_for(frame, user, own), new_idempotency_key())


def _own_items(
    version: str, user, mine: list[tuple[int, str]], loaded: list[Post] | None
) -> list[tuple[str, int, str]]:
    """The reader's own posts on the page, rendered for them: (created_at iso, id, html).
    Kept per thread version in this worker; loaded (unless ``loaded`` has them) and
    rendered only when missing."""
    store = frames.own_rendered()
    found = {pid: store.get((version, pid, user.role)) for pid, _at in mine}
    missing = [pid for pid, html in found.items() if html is None]
    if missing:
        posts = (
            [post for post in loaded if post.id in missing]
            if loaded is not None
            else services.posts_by_id(missing)
        )
        own_ids = {post.id for post in posts if services.can_change_post(user, post)}
        item = _post_renderer(user, own_ids)
        for post in posts:
            found[post.id] = html = str(item(post))
            store.put((version, post.id, user.role), html)
    return [(at, pid, found[pid] or "") for pid, at in mine]


class _SignedInReader:
    """Stands in for "a signed-in reader who wrote none of these posts" while the post list
    every signed-in reader shares is rendered (no moderator, no author: their own parts are
    rendered per request)."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    id = 0
    role = None
    is_suspended = False

    def has_role(self, _role) -> bool:
        return False


def _post_renderer(viewer, own_posts: set[int]):
    """post_item(post) from threads/_posts.html, bound to ``viewer``: Markup per post."""
    signed_in = viewer.is_authenticated
    context = {
        "current_user": viewer,
        "viewer_id": viewer.id if signed_in else None,
        "moderator": signed_in and viewer.has_role(Role.MODERATOR),
        "post_hooks": current_app.extensions.get("hearth_template_hooks", {}).get(
            "post_actions", []
        )
        if signed_in
        else (),
        "own_posts": own_posts,
        "post_url": url_for("threads.permalink", post_id=1)[:-1],
        "PostStatus": PostStatus,
    }
    current_app.update_template_context(context)
    template = current_app.jinja_env.get_template("threads/_posts.html")
    return template.make_module(context).post_item  # type: ignore[attr-defined]


def _deferred_times(render):
    # Shared post lists keep "ago" marks, filled per request (forum.cache): rendering
    # always defers them, and the finished page is filled once.
    if g.get("hearth_defer_ago"):
        return render()
    g.hearth_defer_ago = True
    try:
        return render()
    finally:
        g.hearth_defer_ago = False


def _shared_key(prompt, number: int) -> str:
    course = prompt.module.course
    return (
        f"posts:{course.id}.{course.created_at.timestamp()}.{course.version}:"
        f"{prompt.id}.{prompt.version}:{number}:{cache.render_epoch()}"
    )


def _shared_post_list(prompt, number: int) -> list[tuple[str, int, int, str]] | None:
    """The page's public posts as a signed-in reader sees someone else's posts,
    [(created_at iso, id, author_id, html)], from the cache; None if it isn't there."""
    raw = cache.get(_shared_key(prompt, number))
    return None if raw is None else [tuple(item) for item in json.loads(raw)]


def _shared_item(html: str) -> Markup:
    # The shared list holds post_item's own output: autoescaped by Jinja when it was
    # rendered (_store_shared_post_list), kept as text in the cache.
    return Markup(html)  # noqa: S704


def _store_shared_post_list(prompt, number: int, posts) -> list[tuple[str, int, int, str]]:
    item = _post_renderer(_SignedInReader(), set())
    shared = [
        (post.created_at.isoformat(), post.id, post.author_id, str(item(post)))
        for post in posts
        if services.is_public(post)
    ]
    cache.put(_shared_key(prompt, number), json.dumps(shared).encode())
    return shared


def _render_thread(
    prompt,
    number: int,
    frame_viewer: frames.FrameViewer | None = None,
    rendered: dict[str, Any] | None = None,
) -> str:
    # frame_viewer: a frame is rendered (forum/threads/frames.py): marks for the reader,
    # and the shared posts left in ``rendered["shared"]`` with a mark in their place.
    user: Any = frame_viewer or current_user
    items: list[Markup]
    if not user.is_authenticated or user.has_role(Role.MODERATOR):
        # Anonymous (the whole page is cached by the caller) or a moderator (sees
        # everything, rarely many): the posts as they are.
        page = services.thread_page(prompt, user, number)
        own_posts = {p.id for p in page.posts if services.can_change_post(user, p)}
        item = _post_renderer(user, own_posts)
        items = _deferred_times(lambda: [item(post) for post in page.posts])
    else:
        # A signed-in reader: the post list everyone shares (cached per data version)
        # with this reader's own posts rendered for them in their places.
        shared = _shared_post_list(prompt, number)
        if shared is not None and frame_viewer is not None:
            page = services.empty_page(prompt, number)  # a frame: nobody's own posts
        elif shared is not None:
            page = services.own_posts_on_page(prompt, user, number)
        else:
            # A frame: the reader's own posts come with the page's (one statement, not two).
            reader = current_user if frame_viewer is not None else user
            page = services.thread_page(prompt, reader, number)
            shared = _deferred_times(lambda: _store_shared_post_list(prompt, number, page.posts))
            if rendered is not None:
                rendered["own"] = [p for p in page.posts if p.author_id == reader.id]
        mine = [p for p in page.posts if p.author_id == user.id]
        own_posts = {p.id for p in mine if services.can_change_post(user, p)}
        item = _post_renderer(user, own_posts)
        merged = [
            (at, pid, _shared_item(html)) for at, pid, author, html in shared if author != user.id
        ]
        merged += _deferred_times(lambda: [(p.created_at.isoformat(), p.id, item(p)) for p in mine])
        merged.sort(key=lambda entry: (entry[0], entry[1]))
        items = [html for _at, _pid, html in merged]
        if rendered is not None:
            rendered["shared"] = shared
            items = [Markup(frames.POSTS_MARK)] if shared else []  # noqa: S704  (a mark)

    form = None
    blocked = None
    if user.is_authenticated:
        blocked = services.posting_blocked_reason(user)
        if not blocked:
            form = PostForm(formdata=None)
            form.ensure_key()
            if frame_viewer is not None:
                form.idempotency_key.data = frames.KEY_MARK
    extra = {} if frame_viewer is None else {"current_user": frame_viewer}
    html = render_template(
        "threads/thread.html",
        prompt=prompt,
        module=prompt.module,
        course=prompt.module.course,
        page=page,
        post_items=items,
        form=form,
        blocked=blocked,
        max_chars=current_app.config["POST_MAX_CHARS"],
        thread_args=_thread_args(prompt),
        login_next=_thread_url(prompt, page.page),
        **extra,
    )
    # In the cache's own rendering the marks stay (cached_page fills them per request).
    return html if g.get("hearth_defer_ago") else cache.fill_times(html)


@bp.route("/c/<course_slug>/<module_slug>/<prompt_slug>/posts", methods=["GET", "POST"])
@login_required
@post_limit
def new_post(course_slug: str, module_slug: str, prompt_slug: str):
    prompt = _find_prompt(course_slug, module_slug, prompt_slug)
    form = PostForm()
    args = {"prompt": prompt, "form": form, "mode": "new", "action": request.path}
    if request.method == "GET":
        _posting_blocked()
        form.ensure_key()
        return _compose(args)
    return _submit_post(prompt, form, args)


def _submit_post(prompt, form: PostForm, args: dict, parent: Post | None = None):
    def _again():
        # A fresh key: the refused text was not stored, so sending it again is a new post.
        form.idempotency_key.data = new_idempotency_key()
        return _compose(args)

    reshow_form_on_error(form, _again)
    post, created = services.create_post(
        current_user,
        prompt,
        form.body.data or "",
        parent=parent,
        idempotency_key=form.idempotency_key.data or None,
    )
    _flash_posted(post, created)
    return _permalink(post)


def _flash_posted(post: Post, created: bool) -> None:
    if not created:
        flash("That was already posted, so it appears once.", "info")
    elif post.status == PostStatus.VISIBLE:
        flash("Thank you. Your reflection is posted.", "success")
    else:
        flash(
            "Thank you. A moderator will look at your reflection before others can see it.",
            "info",
        )


@bp.get("/posts/<id:post_id>")
def permalink(post_id: int):
    post = _visible_post_or_404(post_id)
    page = services.page_of_post(post, current_user)
    return redirect(_thread_url(post.prompt, page, anchor=f"post-{post.id}"))


@bp.route("/posts/<id:post_id>/reply", methods=["GET", "POST"])
@login_required
@post_limit
def reply(post_id: int):
    parent = _visible_post_or_404(post_id)
    if not parent.is_visible:
        abort(404, "The post you are replying to is no longer available.")
    prompt = parent.prompt
    form = PostForm()
    form.submit.label.text = "Post reply"
    form.body.label.text = "Your reply"
    args = {"prompt": prompt, "form": form, "mode": "reply", "parent": parent}
    args["action"] = url_for("threads.reply", post_id=parent.id)
    if request.method == "GET":
        _posting_blocked()
        form.ensure_key()
        return _compose(args)
    return _submit_post(prompt, form, args, parent=parent)


def _own_post_or_error(post_id: int) -> Post:
    post = _visible_post_or_404(post_id)
    services.check_can_change_post(current_user, post)
    return post


@bp.route("/posts/<id:post_id>/edit", methods=["GET", "POST"])
@login_required
@post_limit
def edit_post(post_id: int):
    post = _own_post_or_error(post_id)
    form = EditPostForm()
    args = {"prompt": post.prompt, "form": form, "mode": "edit", "post": post}
    args["action"] = url_for("threads.edit_post", post_id=post.id)
    if request.method == "GET":
        form.body.data = post.body_source
        return _compose(args)
    reshow_form_on_error(form, lambda: _compose(args))
    services.edit_post(current_user, post, form.body.data or "")
    flash("Your changes are saved.", "success")
    return _permalink(post)


@bp.route("/posts/<id:post_id>/delete", methods=["GET", "POST"])
@login_required
def delete_post(post_id: int):
    post = _own_post_or_error(post_id)
    form = DeletePostForm()
    if request.method == "GET":
        return render_template("threads/delete.html", post=post, prompt=post.prompt, form=form)
    services.delete_post(current_user, post)
    flash("Your post is deleted. A note in the thread keeps the conversation readable.", "info")
    return _permalink(post)
