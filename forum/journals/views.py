"""Journal pages. Every URL here answers 404 to anyone who may not reach the entry,
anonymous visitors included (not a login redirect: an entry's existence is private too).

Staff read an entry by POSTing "Open entry": the opening is written to the audit log in
the request's own transaction (a GET never writes, see forum/transactions.py), so the
learner can always see who opened it and when.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from forum.courses.services import SLUG_RE
from forum.errors import reshow_form_on_error
from forum.journals import services
from forum.journals.forms import EntryForm, OpenEntryForm, ReplyForm, WithdrawForm
from forum.journals.models import JournalEntry
from forum.support import services as support
from forum.support.forms import SupportRequestForm, WithdrawRequestForm
from forum.support.models import SubjectType, Urgency

bp = Blueprint("journals", __name__, url_prefix="/journal")

PAGE_RE = re.compile(r"[0-9]{1,9}")


def _limits():
    return {"max_chars": current_app.config["JOURNAL_MAX_CHARS"]}


@bp.get("")
def my_journal():
    raw_page = request.args.get("page", "1")
    if not PAGE_RE.fullmatch(raw_page):
        abort(404)
    page = services.my_journal(current_user, int(raw_page))
    return render_template(
        "journals/my_journal.html",
        page=page,
        modules=services.journal_modules(current_user),
    )


@bp.route("/c/<course_slug>/<module_slug>/new", methods=["GET", "POST"])
def new_entry(course_slug: str, module_slug: str):
    if not (SLUG_RE.fullmatch(course_slug) and SLUG_RE.fullmatch(module_slug)):
        abort(404)
    module = services.journal_module(current_user, course_slug, module_slug)
    form = EntryForm()

    def _render():
        return render_template(
            "journals/write.html",
            form=form,
            module=module,
            mode="new",
            first=not services.has_entries(current_user),
            **_limits(),
        )

    if request.method == "GET":
        return _render()
    reshow_form_on_error(form, _render)
    saved = services.create_entry(current_user, module, form.body.data or "")
    _after_save(saved)
    return redirect(url_for("journals.entry", entry_id=saved.entry.id), code=303)


def _after_save(saved: services.Saved) -> None:
    if saved.crisis:
        support.offer_panel(current_user, "crisis")
    flash("Your entry is saved. Only you and your course's facilitators can read it.", "success")


def _author_page(entry: JournalEntry, reply_form: ReplyForm | None = None, status: int = 200):
    return (
        render_template(
            "journals/entry.html",
            entry=entry,
            module=entry.module,
            messages=services.conversation(entry),
            accesses=services.accesses(entry),
            reply_form=reply_form or ReplyForm(formdata=None),
            open_request=support.open_request_for(entry) if entry.is_active else None,
            support_form=SupportRequestForm(formdata=None),
            withdraw_request_form=WithdrawRequestForm(formdata=None),
            **_limits(),
        ),
        status,
    )


def _staff_page(entry: JournalEntry, reply_form: ReplyForm | None = None):
    item = support.item_for(SubjectType.JOURNAL_ENTRY, entry.id)
    return render_template(
        "journals/staff_entry.html",
        entry=entry,
        module=entry.module,
        messages=services.conversation(entry),
        reply_form=reply_form or ReplyForm(formdata=None),
        item=item,
        signal=support.latest_signal(SubjectType.JOURNAL_ENTRY, entry.id),
        open_request=support.open_request_for(entry),
        **_limits(),
    )


@bp.get("/entries/<id:entry_id>")
def entry(entry_id: int):
    found = services.get_entry(current_user, entry_id)
    if services.is_author(current_user, found):
        return _author_page(found)
    # Staff: a page without the entry's text, and a button that opens it (and logs it).
    return render_template(
        "journals/open.html",
        entry=found,
        module=found.module,
        item=support.item_for(SubjectType.JOURNAL_ENTRY, found.id),
        form=OpenEntryForm(formdata=None),
    )


@bp.post("/entries/<id:entry_id>/open")
def open_entry(entry_id: int):
    found = services.get_entry(current_user, entry_id)
    if services.is_author(current_user, found):
        return redirect(url_for("journals.entry", entry_id=found.id), code=303)
    services.open_entry(current_user, found)
    return _staff_page(found)


@bp.route("/entries/<id:entry_id>/edit", methods=["GET", "POST"])
def edit_entry(entry_id: int):
    found = services.get_own_entry(current_user, entry_id)
    if not found.is_active:
        abort(404)
    form = EntryForm()
    form.submit.label.text = "Save changes"

    def _render():
        return render_template(
            "journals/write.html",
            form=form,
            module=found.module,
            mode="edit",
            entry=found,
            **_limits(),
        )

    if request.method == "GET":
        form.body.data = found.body_source
        return _render()
    reshow_form_on_error(form, _render)
    saved = services.edit_entry(current_user, found, form.body.data or "")
    _after_save(saved)
    return redirect(url_for("journals.entry", entry_id=found.id), code=303)


@bp.route("/entries/<id:entry_id>/withdraw", methods=["GET", "POST"])
def withdraw_entry(entry_id: int):
    found = services.get_own_entry(current_user, entry_id)
    form = WithdrawForm()
    if request.method == "GET":
        return render_template(
            "journals/withdraw.html", entry=found, module=found.module, form=form
        )
    services.withdraw_entry(current_user, found)
    flash("Your entry is withdrawn: its text is deleted and nobody else can open it.", "info")
    return redirect(url_for("journals.my_journal"), code=303)


@bp.post("/entries/<id:entry_id>/replies")
def reply(entry_id: int):
    found = services.get_entry(current_user, entry_id)
    form = ReplyForm()
    if services.is_author(current_user, found):
        reshow_form_on_error(form, lambda: _author_page(found, reply_form=form))
        services.reply(current_user, found, form.body.data or "")
        flash("Your answer is sent to the facilitators.", "success")
        return redirect(url_for("journals.entry", entry_id=found.id, _anchor="conversation"), 303)
    # Staff: a refused reply is shown again without the entry (it was not opened again).
    reshow_form_on_error(
        form,
        lambda: render_template(
            "journals/staff_reply_again.html", entry=found, module=found.module, form=form
        ),
    )
    services.reply(current_user, found, form.body.data or "")
    flash(
        f"Your reply is sent. {found.author.display_name} will see it in their journal.", "success"
    )
    return redirect(url_for("support.queue"), code=303)


@bp.route("/entries/<id:entry_id>/support", methods=["GET", "POST"])
def ask_for_support(entry_id: int):
    found = services.get_own_entry(current_user, entry_id)
    if not found.is_active:
        abort(404)
    form = SupportRequestForm()

    def _render():
        return render_template(
            "support/request.html",
            form=form,
            subject_label=f"your journal entry for {found.module.title}",
            action=url_for("journals.ask_for_support", entry_id=found.id),
            back=url_for("journals.entry", entry_id=found.id),
        )

    if request.method == "GET":
        return _render()
    reshow_form_on_error(form, _render)
    made = support.request_support(current_user, found, form.urgency.data or "")
    if made.urgency == Urgency.NOW:
        support.offer_panel(current_user, "now")
    else:
        flash("Thank you for asking. A facilitator will see your request.", "success")
    return redirect(url_for("journals.entry", entry_id=found.id), code=303)
