"""Support pages: resources, asking for support on a post, concerns, the facilitators'
queue and dashboard, and the admin page that assigns facilitators to courses."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from markupsafe import Markup
from wtforms import SelectChoice

from forum.accounts.access import role_required
from forum.accounts.models import Role
from forum.courses.models import Course
from forum.errors import reshow_form_on_error
from forum.extensions import db, unlimited_read
from forum.support import queue as queue_reads
from forum.support import services
from forum.support.forms import (
    AssignForm,
    ClaimForm,
    ConcernForm,
    ResolveForm,
    SupportRequestForm,
    UnassignForm,
    WithdrawRequestForm,
)
from forum.support.listing import Marks, queue_listing
from forum.support.models import SubjectType, TriageItem, Urgency
from forum.threads.models import Post

bp = Blueprint("support", __name__, url_prefix="/support")

# Pages about one person's request, post or queue item answer 404 (not a login redirect)
# to everyone who may not reach them, anonymous visitors included: the services decide.

NUMBER_RE = re.compile(r"[0-9]{1,9}")


def take_panel() -> str | None:
    """The support panel the current page should start with, shown once ("crisis"/"now")."""
    return session.pop(services.PANEL_KEY, None)


@bp.get("/resources")
def resources():
    return render_template("support/resources.html")


# --- asking for support on one's own post ---------------------------------------------


def _post_or_404(post_id: int) -> Post:
    post = db.session.get(Post, post_id)
    if post is None:
        abort(404)
    return post


@bp.route("/posts/<id:post_id>/request", methods=["GET", "POST"])
def request_for_post(post_id: int):
    post = _post_or_404(post_id)
    services.check_can_request(current_user, post)
    form = SupportRequestForm()

    def _render():
        return render_template(
            "support/request.html",
            form=form,
            subject_label="your post in “" + post.prompt.title + "”",
            action=url_for("support.request_for_post", post_id=post.id),
            back=url_for("threads.permalink", post_id=post.id),
        )

    if request.method == "GET":
        return _render()
    reshow_form_on_error(form, _render)
    made = services.request_support(current_user, post, form.urgency.data or "")
    if made.urgency == Urgency.NOW:
        services.offer_panel(current_user, "now")
    else:
        flash("Thank you for asking. A facilitator will see your request.", "success")
    return redirect(url_for("support.my_request", request_id=made.id), code=303)


@bp.get("/requests/<id:request_id>")
def my_request(request_id: int):
    made = services.get_own_request(current_user, request_id)
    return render_template(
        "support/request_sent.html",
        made=made,
        subject=services.request_subject(made),
        SubjectType=SubjectType,
        form=WithdrawRequestForm(formdata=None),
    )


@bp.post("/requests/<id:request_id>/withdraw")
def withdraw_request(request_id: int):
    made = services.get_own_request(current_user, request_id)
    services.withdraw_request(current_user, made)
    flash("Your request is withdrawn. You can ask again at any time.", "info")
    if made.subject_type == SubjectType.JOURNAL_ENTRY:
        return redirect(url_for("journals.entry", entry_id=made.subject_id), code=303)
    return redirect(url_for("threads.permalink", post_id=made.subject_id), code=303)


# --- concerns from peers -----------------------------------------------------------------


@bp.route("/posts/<id:post_id>/concern", methods=["GET", "POST"])
def concern(post_id: int):
    post = _post_or_404(post_id)
    services.check_can_raise_concern(current_user, post)
    form = ConcernForm()

    def _render():
        return render_template("support/concern.html", form=form, post=post)

    if request.method == "GET":
        return _render()
    reshow_form_on_error(form, _render)
    services.raise_concern(current_user, post, form.note.data)
    flash("Thank you. Only the course facilitators will see this; nobody else is told.", "success")
    return redirect(url_for("threads.permalink", post_id=post.id), code=303)


# --- the queue ---------------------------------------------------------------------------


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    if not NUMBER_RE.fullmatch(raw):
        abort(404)
    return int(raw)


class IdLinks:
    """The URLs of one endpoint for many ids: one ``url_for``, then each id put in place
    (a queue page links to seven places per row)."""

    _SAMPLE = 987654321

    def __init__(self, endpoint: str, argument: str) -> None:
        values: dict[str, Any] = {argument: self._SAMPLE}
        url = url_for(endpoint, **values)
        self._head, self._tail = url.split(str(self._SAMPLE), 1)

    def __call__(self, row_id: int) -> str:
        return f"{self._head}{int(row_id)}{self._tail}"


def _render_listing(page: queue_reads.QueuePage) -> str:
    links = SimpleNamespace(
        item=IdLinks("support.item", "item_id"),
        claim=IdLinks("support.claim", "item_id"),
        release=IdLinks("support.release", "item_id"),
        resolve=IdLinks("support.resolve", "item_id"),
        open_entry=IdLinks("journals.open_entry", "entry_id"),
        permalink=IdLinks("threads.permalink", "post_id"),
    )
    return render_template(
        "support/_queue_listing.html",
        page=page,
        links=links,
        mark=Marks,
        state_labels=queue_reads.STATE_FILTER_LABELS,
        SubjectType=SubjectType,
    )


@bp.get("/queue")
@unlimited_read
@role_required(Role.FACILITATOR)
def queue():
    state = request.args.get("state", "waiting")
    filters = queue_reads.QueueFilters(module_id=_int_arg("module"), state=state)
    listing = queue_listing(current_user, filters, _int_arg("page") or 1, _render_listing)
    # Escaped when rendered (support/_queue_listing.html); the marks put in only text.
    return render_template("support/queue.html", listing=Markup(listing))  # noqa: S704


@bp.get("/queue/<id:item_id>")
def item(item_id: int):
    found = services.get_item(current_user, item_id)
    return render_template(
        "support/item.html",
        item=found,
        waited=queue_reads.waited,
        concerns=services.concerns_for(found),
        signal=services.latest_signal(found.subject_type, found.subject_id),
        claim_form=ClaimForm(formdata=None),
        resolve_form=ResolveForm(formdata=None),
        SubjectType=SubjectType,
    )


def _back(form, found: TriageItem):
    if form.back.data == "item":
        return redirect(url_for("support.item", item_id=found.id), code=303)
    return redirect(url_for("support.queue"), code=303)


@bp.post("/queue/<id:item_id>/claim")
def claim(item_id: int):
    found = services.get_item(current_user, item_id)
    form = ClaimForm()
    services.claim_item(current_user, found)
    flash("You're looking after this item; other facilitators can see that.", "success")
    return _back(form, found)


@bp.post("/queue/<id:item_id>/release")
def release(item_id: int):
    found = services.get_item(current_user, item_id)
    form = ClaimForm()
    services.release_item(current_user, found)
    flash("You've let go of this item.", "info")
    return _back(form, found)


@bp.post("/queue/<id:item_id>/resolve")
def resolve(item_id: int):
    found = services.get_item(current_user, item_id)
    form = ResolveForm()
    services.resolve_item(current_user, found, form.resolution.data or "")
    flash("Saved.", "success")
    return _back(form, found)


@bp.get("/dashboard")
@role_required(Role.FACILITATOR)
def dashboard():
    return render_template(
        "support/dashboard.html",
        board=queue_reads.dashboard(current_user),
        duration=queue_reads.duration_words,
    )


# --- admin: who facilitates which course ------------------------------------------------


def _courses() -> list[Course]:
    return list(db.session.execute(db.select(Course).order_by(Course.title)).scalars())


@bp.route("/admin/facilitators", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_facilitators():
    form = AssignForm()
    form.course.choices = [SelectChoice(c.slug, c.title) for c in _courses()]

    def _render():
        return render_template(
            "support/admin_facilitators.html",
            form=form,
            assignments=services.list_assignments(),
            unassign_form=UnassignForm(formdata=None),
        )

    if request.method == "GET":
        return _render()
    reshow_form_on_error(form, _render)
    made = services.assign_by_email(current_user, form.email.data or "", form.course.data or "")
    flash(f"{made.user.display_name} now facilitates {made.course.title}.", "success")
    return redirect(url_for("support.admin_facilitators"), code=303)


@bp.post("/admin/facilitators/<id:assignment_id>/remove")
@role_required(Role.ADMIN)
def admin_unassign(assignment_id: int):
    services.unassign_by_id(current_user, assignment_id)
    flash("Removed.", "info")
    return redirect(url_for("support.admin_facilitators"), code=303)
