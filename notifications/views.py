"""HTTP views of notifications: subscriptions, preferences, one-click unsubscribe, dev mail.

Views parse input, call one service and answer; they never commit or roll back (a write
request that answers below 400 is committed once, after the view: forum.transactions) and
never catch a service's errors (forum.errors turns them into pages, or re-shows the form).
"""

from __future__ import annotations

import email.parser
import email.policy
import re

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required

from forum.courses.models import Module, Prompt
from forum.errors import reshow_form_on_error
from forum.extensions import csrf, db, limiter, login_manager
from forum.urls import safe_next
from notifications import services
from notifications.delivery import mail_dir
from notifications.emails import read_message
from notifications.forms import PauseForm, PreferencesForm, ResumeForm, SubscriptionForm

bp = Blueprint("notifications", __name__)

MODE_WORDS = {
    "watching": "You're watching this and get an email for each new reflection.",
    "digest": "New reflections here come in your daily digest.",
    "muted": "Muted: you get no email about this.",
    "none": "You're not subscribed.",
}


def _thread_url(prompt: Prompt) -> str:
    module = prompt.module
    return url_for(
        "threads.thread",
        course_slug=module.course.slug,
        module_slug=module.slug,
        prompt_slug=prompt.slug,
    )


def _module_url(module: Module) -> str:
    return url_for("courses.module", course_slug=module.course.slug, module_slug=module.slug)


def _bad_choice(form: SubscriptionForm):
    abort(400, description="Please choose watching, daily digest, muted or not subscribed.")


@bp.post("/notifications/threads/<id:prompt_id>")
@login_required
def thread_subscription(prompt_id: int):
    prompt = db.session.get(Prompt, prompt_id) or abort(404)
    form = SubscriptionForm()
    if not form.validate_on_submit():
        _bad_choice(form)
    mode = services.set_thread_subscription(current_user, prompt, form.mode.data)
    flash(MODE_WORDS[mode], "success")
    return redirect(safe_next(form.next.data, _thread_url(prompt)))


@bp.post("/notifications/modules/<id:module_id>")
@login_required
def module_subscription(module_id: int):
    module = db.session.get(Module, module_id) or abort(404)
    form = SubscriptionForm()
    if not form.validate_on_submit():
        _bad_choice(form)
    mode = services.set_module_subscription(current_user, module, form.mode.data)
    flash(MODE_WORDS[mode], "success")
    return redirect(safe_next(form.next.data, _module_url(module)))


def _preferences_page(
    form: PreferencesForm | None = None, pause_form: PauseForm | None = None, status: int = 200
):
    pref = services.get_preferences(current_user)
    # The forms that were not submitted show what is stored. formdata=None matters: on a
    # POST, Flask-WTF would otherwise bind them to the request's form, and a checkbox
    # absent from that form reads as unticked (a pause submit would untick "include
    # excerpts", and the next Save would store that).
    if form is None:
        form = PreferencesForm(
            formdata=None, delivery=pref.delivery.value, include_excerpts=pref.include_excerpts
        )
    if pause_form is None:
        pause_form = PauseForm(formdata=None)
    return (
        render_template(
            "notifications/preferences.html",
            form=form,
            pause_form=pause_form,
            resume_form=ResumeForm(formdata=None),
            pref=pref,
            paused=services.is_paused(pref),
            subscriptions=services.list_subscriptions(current_user),
            mode_words=MODE_WORDS,
        ),
        status,
    )


@bp.route("/notifications/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    form = PreferencesForm()
    if not form.is_submitted():
        return _preferences_page()
    if not form.validate():
        return _preferences_page(form=form, status=400)
    reshow_form_on_error(form, lambda: _preferences_page(form=form))
    services.update_preferences(current_user, form.delivery.data, form.include_excerpts.data)
    flash("Your email preferences are saved.", "success")
    return redirect(url_for("notifications.preferences"))


@bp.post("/notifications/pause")
@login_required
def pause():
    form = PauseForm()
    if not form.validate_on_submit():
        return _preferences_page(pause_form=form, status=400)
    reshow_form_on_error(form, lambda: _preferences_page(pause_form=form))
    pref = services.pause_discussion_email(current_user, int(form.weeks.data))
    flash(
        f"Discussion email is paused until {pref.paused_until:%-d %B %Y}. "
        "Account emails (like password resets) still arrive.",
        "success",
    )
    return redirect(url_for("notifications.preferences"))


@bp.post("/notifications/resume")
@login_required
def resume():
    form = ResumeForm()
    if not form.validate_on_submit():
        abort(400)
    services.resume_discussion_email(current_user)
    flash("Discussion email is on again.", "success")
    return redirect(url_for("notifications.preferences"))


# --- one-click unsubscribe: no login, no cookie, no CSRF token (RFC 8058) ---------------


def _unsubscribe_rate_key() -> str:
    """Client address plus the token's owner: one noisy client can't lock others out."""
    token = (request.view_args or {}).get("token", "")
    owner = services.token_owner_id(token)
    return f"unsubscribe:{get_remote_address()}:{owner or 'unknown'}"


def _unsubscribe_limit() -> str:
    return current_app.config["NOTIFICATIONS_UNSUBSCRIBE_RATE_LIMIT"]


_limit = limiter.limit(
    _unsubscribe_limit,
    key_func=_unsubscribe_rate_key,
    error_message="Too many unsubscribe requests from here. Please wait a minute and try again.",
)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _page(template: str, status: int = 200, **context):
    response = current_app.make_response((render_template(template, **context), status))
    return _no_store(response)


@bp.route("/u/<token>", methods=["GET", "POST"])
@csrf.exempt
@_limit
def unsubscribe(token: str):
    """GET asks (mail scanners open links); POST, from a button or a mail client, acts."""
    found = services.find_token(token)
    if request.method == "GET":
        if found is None:
            # Unknown, malformed and tampered tokens all get this one page and status.
            return _page("notifications/unsubscribe_unknown.html", 404)
        return _page(
            "notifications/unsubscribe_confirm.html",
            token=token,
            scope=services.describe_scope(found),
        )
    # The body (List-Unsubscribe=One-Click, urlencoded or multipart) is never needed.
    if found is None:
        return _page("notifications/unsubscribe_generic.html")
    scope = services.describe_scope(found)
    services.unsubscribe(found)
    return _page(
        "notifications/unsubscribe_done.html",
        token=token,
        scope=scope,
        can_undo=found.undo_state is not None,
    )


@bp.post("/u/<token>/undo")
@csrf.exempt
@_limit
def unsubscribe_undo(token: str):
    found = services.find_token(token)
    if found is None:
        return _page("notifications/unsubscribe_generic.html")
    scope = services.describe_scope(found)
    undone = services.undo_unsubscribe(found)
    return _page("notifications/unsubscribe_undone.html", scope=scope, undone=undone)


# --- development mail folder ------------------------------------------------------------

EML_NAME = re.compile(r"^[0-9T]{8,32}-[0-9]{1,12}\.eml$")


def _dev_mail_gate() -> None:
    if current_app.config["ENV"] != "development":
        abort(404)


def _staff_only():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_staff:
        abort(403)
    return None


@bp.get("/staff/mail")
def dev_mail():
    _dev_mail_gate()
    denied = _staff_only()
    if denied is not None:
        return denied
    folder = mail_dir()
    names = []
    if folder.is_dir():
        names = sorted((p.name for p in folder.iterdir() if EML_NAME.match(p.name)), reverse=True)
    messages = []
    for name in names[:200]:
        parsed = _parse((folder / name).read_bytes(), headers_only=True)
        messages.append({"name": name, **parsed})
    return render_template("notifications/dev_mail.html", messages=messages, total=len(names))


@bp.get("/staff/mail/<name>")
def dev_mail_message(name: str):
    _dev_mail_gate()
    denied = _staff_only()
    if denied is not None:
        return denied
    if not EML_NAME.match(name):
        abort(404)
    path = mail_dir() / name
    if not path.is_file():
        abort(404)
    raw = path.read_bytes()
    return render_template(
        "notifications/dev_mail_message.html",
        name=name,
        message=_parse(raw),
        raw=raw.decode("utf-8", "replace"),
    )


def _parse(raw: bytes, headers_only: bool = False) -> dict:
    if headers_only:
        # The listing needs headers only: parsing every body of 200 messages is wasted.
        msg = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
        return {
            "subject": str(msg.get("Subject", "")),
            "to": str(msg.get("To", "")),
            "from": str(msg.get("From", "")),
            "date": str(msg.get("Date", "")),
        }
    read = read_message(raw)
    return {
        "subject": read.subject,
        "to": read.to,
        "from": read.from_,
        "date": read.date,
        "message_id": read.message_id,
        "list_unsubscribe": read.list_unsubscribe,
        "text": read.text,
    }
