"""Forms for flagging, deciding and sanctioning. They parse input; services decide."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Optional

from moderation.models import (
    FLAG_REASON_LABELS,
    Action,
    AppealState,
    SanctionKind,
    WatchAction,
)


class FlagForm(FlaskForm):
    reason = RadioField(
        "Why should a moderator look at this post?",
        choices=[SelectChoice(reason.value, label) for reason, label in FLAG_REASON_LABELS.items()],
        validate_choice=False,
    )
    note = TextAreaField("Anything a moderator should know (needed for “something else”)")
    submit = SubmitField("Send to the moderators")


class DecideForm(FlaskForm):
    action = RadioField(
        "Decision",
        choices=[
            SelectChoice(
                Action.KEEP.value, "Keep it (dismiss the flags; show it if hidden or held)"
            ),
            SelectChoice(Action.HIDE.value, "Hide it"),
            SelectChoice(Action.REMOVE.value, "Remove it"),
            SelectChoice(Action.REQUEST_REVISION.value, "Ask the author to revise it"),
        ],
        validate_choice=False,
    )
    reason = TextAreaField("Reason (the author is told this)")
    version = HiddenField()
    submit = SubmitField("Decide")


class BulkSpamForm(FlaskForm):
    reason = StringField("Reason", default="Spam: advertising or link exchange.")
    submit = SubmitField("Remove selected as spam")


class ClaimForm(FlaskForm):
    submit = SubmitField("Take this item")


class AppealForm(FlaskForm):
    message = TextAreaField("Why should another moderator look at this again?")
    submit = SubmitField("Send my appeal")


class DecideAppealForm(FlaskForm):
    outcome = RadioField(
        "Outcome",
        choices=[
            SelectChoice(AppealState.OVERTURNED.value, "Accept the appeal (reverse the decision)"),
            SelectChoice(AppealState.UPHELD.value, "Decline the appeal (the decision stands)"),
        ],
        validate_choice=False,
    )
    reason = TextAreaField("Reason (the author is told this)")
    version = HiddenField()
    submit = SubmitField("Decide the appeal")


class LockForm(FlaskForm):
    reason = TextAreaField("Reason (shown to people who try to post)")
    submit = SubmitField("Lock this thread")


class UnlockForm(FlaskForm):
    reason = TextAreaField("Reason")
    submit = SubmitField("Unlock this thread")


class SanctionForm(FlaskForm):
    kind = SelectField(
        "What to do",
        choices=[
            SelectChoice(SanctionKind.SILENCE.value, "Silence (can read, can't post)"),
            SelectChoice(SanctionKind.SUSPEND.value, "Suspend"),
            SelectChoice(SanctionKind.BAN.value, "Ban (until lifted)"),
        ],
        validate_choice=False,
    )
    days = IntegerField("For how many days (not for a ban)", validators=[Optional()])
    reason = TextAreaField("Reason (the person is told this)")
    submit = SubmitField("Apply")


class LiftForm(FlaskForm):
    reason = TextAreaField("Reason")
    submit = SubmitField("Lift it")


class NoteForm(FlaskForm):
    body = TextAreaField("Private note (only moderators read it)")
    submit = SubmitField("Add note")


class WatchedWordForm(FlaskForm):
    phrase = StringField("Word or phrase")
    action = SelectField(
        "What it does",
        choices=[
            SelectChoice(WatchAction.HOLD.value, "Hold the post for review"),
            SelectChoice(WatchAction.FLAG.value, "Show it, and flag it for review"),
            SelectChoice(WatchAction.BLOCK.value, "Refuse the post with a message"),
        ],
        validate_choice=False,
    )
    submit = SubmitField("Add")


class RemoveWordForm(FlaskForm):
    submit = SubmitField("Remove")
