"""Forms for journal entries and their conversations. They parse input; rules live in services."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SubmitField, TextAreaField


class EntryForm(FlaskForm):
    body = TextAreaField("Your entry")
    submit = SubmitField("Save entry")


class ReplyForm(FlaskForm):
    body = TextAreaField("Your reply")
    submit = SubmitField("Send reply")


class OpenEntryForm(FlaskForm):
    submit = SubmitField("Open entry")


class WithdrawForm(FlaskForm):
    submit = SubmitField("Withdraw this entry")
