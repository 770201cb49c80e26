"""Forms of notifications: subscription buttons, preferences, pauses."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectChoice, SubmitField
from wtforms.validators import DataRequired, InputRequired

SUBSCRIPTION_CHOICES = [
    SelectChoice("watching", "Watching: an email for every new reflection"),
    SelectChoice("digest", "Daily digest"),
    SelectChoice("muted", "Muted: no email"),
    SelectChoice("none", "Not subscribed"),
]


class SubscriptionForm(FlaskForm):
    mode = RadioField(
        "Email about this",
        choices=SUBSCRIPTION_CHOICES,
        validators=[InputRequired(message="Please choose one option.")],
    )
    next = HiddenField()
    submit = SubmitField("Save")


class PreferencesForm(FlaskForm):
    delivery = RadioField(
        "Discussion email",
        choices=[
            SelectChoice(
                "immediate", "As it happens: one email per new reflection in what you follow"
            ),
            SelectChoice("digest", "Once a day: a daily digest"),
            SelectChoice("none", "No discussion email"),
        ],
        validators=[InputRequired(message="Please choose how often you'd like email.")],
    )
    include_excerpts = BooleanField("Include the start of each public reflection in emails")
    submit = SubmitField("Save preferences")


class PauseForm(FlaskForm):
    weeks = RadioField(
        "Pause all discussion email for",
        choices=[
            SelectChoice("1", "One week"),
            SelectChoice("2", "Two weeks"),
            SelectChoice("4", "Four weeks"),
        ],
        validators=[DataRequired(message="Please choose how long to pause.")],
    )
    submit = SubmitField("Pause email")


class ResumeForm(FlaskForm):
    submit = SubmitField("Resume email now")
