"""HTTP views of moderation: thin. Parse the request, call one service, render."""

from __future__ import annotations

import re
from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from forum.accounts.models import Role
from forum.audit import AuditEntry, AuditFilter, audit_query
from forum.courses.models import Prompt
from forum.database import utcnow
from forum.errors import reshow_form_on_error
from forum.extensions import db, unlimited_read
from forum.threads.models import Post
from forum.threads.services import can_view_post
from moderation import queue_cache, services
from moderation.forms import (
    AppealForm,
    BulkSpamForm,
    ClaimForm,
    DecideAppealForm,
    DecideForm,
    FlagForm,
    LiftForm,
    LockForm,
    NoteForm,
    RemoveWordForm,
    SanctionForm,
    UnlockForm,
    WatchedWordForm,
)
from moderation.models import (
    FLAG_REASON_LABELS,
    FlagReason,
    ItemState,
)

bp = Blueprint("moderation", __name__)

NUMBER_RE = re.compile(r"[0-9]{1,9}")
TARGET_RE = re.compile(r"([a-z_]{1,64}):([0-9]{1,9})")


def moderator_required(view):
    """Moderators and admins only: 404 for visitors, 403 for other accounts."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            abort(404)
        if not current_user.has_role(Role.MODERATOR):
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    if not NUMBER_RE.fullmatch(raw):
        abort(404)
    return int(raw)


def _page() -> int:
    return _int_arg("page") or 1


def _paginate(query, per_page: int):
    pagination = db.paginate(query, page=_page(), per_page=per_page, error_out=False)
    if _page() > max(1, pagination.pages):
        abort(404)
    return pagination


def _version() -> int:
    raw = request.form.get("version", "")
    if not NUMBER_RE.fullmatch(raw):
        abort(400)
    return int(raw)


def _post_or_404(post_id: int) -> Post:
    post = db.session.get(Post, post_id)
    if post is None or not can_view_post(current_user, post):
        abort(404)
    return post


# --- for everyone ------------------------------------------------------------------------


@bp.get("/guidelines")
def guidelines():
    return render_template("moderation/guidelines.html", reasons=FLAG_REASON_LABELS)


@bp.route("/posts/<id:post_id>/flag", methods=["GET", "POST"])
@login_required
def flag(post_id: int):
    post = _post_or_404(post_id)
    services.check_can_flag(current_user, post)
    form = FlagForm()
    concern_url = (
        url_for("support.concern", post_id=post.id)
        if "support.concern" in current_app.view_functions
        else None
    )

    def _render():
        return render_template(
            "moderation/flag.html", form=form, post=post, concern_url=concern_url
        )

    if request.method == "GET":
        return _render()
    reshow_form_on_error(form, _render)
    services.flag_post(current_user, post, form.reason.data, form.note.data)
    flash(
        "Thank you. A moderator will look at this post. Nobody else is told it was you.", "success"
    )
    return redirect(url_for("threads.permalink", post_id=post.id), code=303)


@bp.get("/moderation/notices")
@login_required
def notices():
    pagination = _paginate(services.notices_query(current_user), 20)
    return render_template(
        "moderation/notices.html",
        pager=pagination,
        appealed=services.appealed_item_ids(current_user),
        can_appeal=lambda item: services.can_appeal_item(current_user, item),
    )


@bp.get("/moderation/my-account")
@login_required
def my_account():
    return render_template(
        "moderation/my_account.html",
        sanctions=services.sanctions_of(current_user),
        active=services.active_sanction(current_user),
        appealed=services.appealed_sanction_ids(current_user),
        describe_until=services.describe_until,
        now=utcnow(),
    )


@bp.route("/moderation/items/<id:item_id>/appeal", methods=["GET", "POST"])
@login_required
def appeal_item(item_id: int):
    item = services.get_item(item_id)
    if item.snapshot_author_id != current_user.id:
        abort(404)
    form = AppealForm()

    def _render():
        return render_template("moderation/appeal.html", form=form, item=item, sanction=None)

    if request.method == "GET":
        return _render()
    reshow_form_on_error(form, _render)
    services.appeal_item(current_user, item, form.message.data)
    flash("Your appeal is sent. A different moderator will look at it.", "success")
    return redirect(url_for("moderation.notices"), code=303)


@bp.route("/moderation/sanctions/<id:sanction_id>/appeal", methods=["GET", "POST"])
@login_required
def appeal_sanction(sanction_id: int):
    sanction = services.get_sanction(sanction_id)
    if sanction.user_id != current_user.id:
        abort(404)
    form = AppealForm()

    def _render():
        return render_template("moderation/appeal.html", form=form, item=None, sanction=sanction)

    if request.method == "GET":
        return _render()
    reshow_form_on_error(form, _render)
    services.appeal_sanction(current_user, sanction, form.message.data)
    flash("Your appeal is sent. A different moderator will look at it.", "success")
    return redirect(url_for("moderation.my_account"), code=303)


# --- the queue ---------------------------------------------------------------------------


def _queue_filter() -> services.QueueFilter:
    try:
        state = ItemState(request.args.get("state") or ItemState.PENDING)
        reason = FlagReason(request.args["reason"]) if request.args.get("reason") else None
    except ValueError:
        abort(404)
    return services.QueueFilter(state=state, reason=reason, module_id=_int_arg("module"))


@bp.get("/moderation/queue")
@unlimited_read
@moderator_required
def queue():
    filters = _queue_filter()
    found = queue_cache.shared_queue(
        current_user, filters, _page(), current_app.config["MODERATION_ITEMS_PER_PAGE"]
    )
    if found is None:
        abort(404)  # past the last page
    shared, labels = found
    return render_template(
        "moderation/queue.html", shared=queue_cache.fill(shared, labels, current_user)
    )


@bp.post("/moderation/queue/spam")
@moderator_required
def bulk_spam():
    form = BulkSpamForm()
    raw_ids = request.form.getlist("item_ids")
    if not all(NUMBER_RE.fullmatch(raw) for raw in raw_ids):
        abort(400)
    count = services.bulk_remove_spam(current_user, [int(raw) for raw in raw_ids], form.reason.data)
    flash(f"Removed {count} post{'s' if count != 1 else ''} as spam.", "success")
    return redirect(url_for("moderation.queue"), code=303)


def _item_page(item, form, claim_form=None):
    return render_template(
        "moderation/item.html",
        item=item,
        form=form,
        claim_form=claim_form or ClaimForm(formdata=None),
        flags=services.flags_of(item),
        reason_labels=FLAG_REASON_LABELS,
        allowed=services.ALLOWED[item.state],
        lock=services.thread_lock(item.post.prompt_id),
        now=utcnow(),
    )


@bp.get("/moderation/items/<id:item_id>")
@moderator_required
def item(item_id: int):
    found = services.get_item(item_id)
    form = DecideForm(formdata=None, version=str(found.version))
    return _item_page(found, form)


@bp.post("/moderation/items/<id:item_id>/claim")
@moderator_required
def claim(item_id: int):
    found = services.get_item(item_id)
    services.claim_item(current_user, found)
    flash("This item is yours for the next few minutes.", "info")
    return redirect(url_for("moderation.item", item_id=found.id), code=303)


@bp.post("/moderation/items/<id:item_id>/decide")
@moderator_required
def decide(item_id: int):
    found = services.get_item(item_id)
    form = DecideForm()
    reshow_form_on_error(form, lambda: _item_page(found, form))
    services.decide(current_user, found, form.action.data, form.reason.data, _version())
    flash("Decided. The author is told the outcome and the reason.", "success")
    return redirect(url_for("moderation.queue"), code=303)


# --- appeals -----------------------------------------------------------------------------


def _appeal_page(appeal, form):
    return render_template("moderation/appeal_decide.html", appeal=appeal, form=form)


@bp.get("/moderation/appeals/<id:appeal_id>")
@moderator_required
def appeal(appeal_id: int):
    found = services.get_appeal(appeal_id)
    return _appeal_page(found, DecideAppealForm(formdata=None, version=str(found.version)))


@bp.post("/moderation/appeals/<id:appeal_id>/decide")
@moderator_required
def decide_appeal(appeal_id: int):
    found = services.get_appeal(appeal_id)
    form = DecideAppealForm()
    reshow_form_on_error(form, lambda: _appeal_page(found, form))
    services.decide_appeal(current_user, found, form.outcome.data, form.reason.data, _version())
    flash("The appeal is decided. The author is told the outcome and the reason.", "success")
    return redirect(url_for("moderation.queue"), code=303)


# --- threads -----------------------------------------------------------------------------


def _prompt_or_404(prompt_id: int) -> Prompt:
    prompt = db.session.get(Prompt, prompt_id)
    if prompt is None:
        abort(404)
    return prompt


@bp.route("/moderation/threads/<id:prompt_id>/lock", methods=["GET", "POST"])
@moderator_required
def lock(prompt_id: int):
    prompt = _prompt_or_404(prompt_id)
    lock_row = services.thread_lock(prompt.id)
    form = UnlockForm() if lock_row else LockForm()

    def _render():
        return render_template("moderation/lock.html", form=form, prompt=prompt, lock=lock_row)

    if request.method == "GET":
        return _render()
    reshow_form_on_error(form, _render)
    if lock_row:
        services.unlock_thread(current_user, prompt, form.reason.data)
        flash("The thread is open again.", "success")
    else:
        services.lock_thread(current_user, prompt, form.reason.data)
        flash("The thread is locked. Nobody but moderators can post in it.", "success")
    return redirect(url_for("moderation.lock", prompt_id=prompt.id), code=303)


# --- accounts ----------------------------------------------------------------------------


def _account_page(user, sanction_form=None, note_form=None, lift_form=None):
    return render_template(
        "moderation/account.html",
        user=user,
        sanctions=services.sanctions_of(user),
        notes=services.notes_on(user),
        sanction_form=sanction_form or SanctionForm(formdata=None),
        note_form=note_form or NoteForm(formdata=None),
        lift_form=lift_form or LiftForm(formdata=None, prefix="lift"),
        describe_until=services.describe_until,
        now=utcnow(),
    )


@bp.get("/moderation/users/<id:user_id>")
@moderator_required
def account(user_id: int):
    return _account_page(services.get_user(user_id))


@bp.post("/moderation/users/<id:user_id>/sanctions")
@moderator_required
def sanction(user_id: int):
    user = services.get_user(user_id)
    form = SanctionForm()
    reshow_form_on_error(form, lambda: _account_page(user, sanction_form=form))
    services.apply_sanction(current_user, user, form.kind.data, form.reason.data, form.days.data)
    flash("Done. The person is told why and until when.", "success")
    return redirect(url_for("moderation.account", user_id=user.id), code=303)


@bp.post("/moderation/sanctions/<id:sanction_id>/lift")
@moderator_required
def lift(sanction_id: int):
    found = services.get_sanction(sanction_id)
    form = LiftForm(prefix="lift")
    reshow_form_on_error(form, lambda: _account_page(found.user, lift_form=form))
    services.lift_sanction(current_user, found, form.reason.data)
    flash("Lifted. The person can post again.", "success")
    return redirect(url_for("moderation.account", user_id=found.user_id), code=303)


@bp.post("/moderation/users/<id:user_id>/notes")
@moderator_required
def add_note(user_id: int):
    user = services.get_user(user_id)
    form = NoteForm()
    reshow_form_on_error(form, lambda: _account_page(user, note_form=form))
    services.add_account_note(current_user, user, form.body.data)
    flash("Note added.", "success")
    return redirect(url_for("moderation.account", user_id=user.id), code=303)


# --- watched words -----------------------------------------------------------------------


@bp.route("/moderation/watched-words", methods=["GET", "POST"])
@moderator_required
def watched_words():
    form = WatchedWordForm()

    def _render():
        return render_template(
            "moderation/watched_words.html",
            form=form,
            words=services.watched_words(),
            remove_form=RemoveWordForm(formdata=None),
        )

    if request.method == "GET":
        return _render()
    reshow_form_on_error(form, _render)
    services.add_watched_word(current_user, form.phrase.data, form.action.data)
    flash("Added.", "success")
    return redirect(url_for("moderation.watched_words"), code=303)


@bp.post("/moderation/watched-words/<id:word_id>/remove")
@moderator_required
def remove_word(word_id: int):
    services.remove_watched_word(current_user, word_id)
    flash("Removed.", "success")
    return redirect(url_for("moderation.watched_words"), code=303)


# --- the audit log -----------------------------------------------------------------------


@bp.get("/moderation/audit")
@moderator_required
def audit_log():
    action = request.args.get("action") or None
    if action is not None and action not in services.AUDIT_ACTIONS:
        abort(404)
    subject_type = subject_id = None
    target = request.args.get("target", "")
    if target:
        match = TARGET_RE.fullmatch(target)
        if match is None:
            abort(404)
        subject_type, subject_id = match.group(1), int(match.group(2))
    filters = AuditFilter(
        action=action,
        actor_id=_int_arg("moderator"),
        subject_type=subject_type,
        subject_id=subject_id,
    )
    # Moderation's own actions and role changes only: journal reads and support's rows
    # belong to facilitators and admins, not to moderators.
    query = (
        audit_query(filters)
        .where(AuditEntry.action.in_(services.AUDIT_ACTIONS))
        .options(joinedload(AuditEntry.actor))
    )
    pagination = _paginate(query, current_app.config["MODERATION_AUDIT_PER_PAGE"])
    return render_template(
        "moderation/audit.html",
        pager=pagination,
        actions=services.AUDIT_ACTIONS,
        moderators=services.moderator_choices(),
        action=action,
        moderator=_int_arg("moderator"),
        target=target,
    )
