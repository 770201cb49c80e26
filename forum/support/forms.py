"""Forms for asking for support, raising a concern, working the queue and assigning
facilitators. They parse input; the rules live in ``forum.support.services``."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)

from forum.support.models import URGENCY_LABELS, Urgency

URGENCY_CHOICES = [SelectChoice(u.value, URGENCY_LABELS[u]) for u in Urgency]


class SupportRequestForm(FlaskForm):
    urgency = RadioField(
        "How soon would you like to hear from a facilitator?",
        choices=URGENCY_CHOICES,
        default=Urgency.WHEN_YOU_CAN.value,
        validate_choice=False,
    )
    submit = SubmitField("Ask for support")


class WithdrawRequestForm(FlaskForm):
    submit = SubmitField("I no longer need this")


class ConcernForm(FlaskForm):
    note = TextAreaField("Anything the facilitators should know (optional)")
    submit = SubmitField("Tell the facilitators")


class ClaimForm(FlaskForm):
    back = HiddenField()
    submit = SubmitField("Claim")


class ResolveForm(FlaskForm):
    back = HiddenField()
    resolution = HiddenField()
    submit = SubmitField("Save")


class AssignForm(FlaskForm):
    email = StringField("Facilitator's email address")
    course = SelectField("Course", choices=[], validate_choice=False)
    submit = SubmitField("Assign")


class UnassignForm(FlaskForm):
    submit = SubmitField("Remove")
