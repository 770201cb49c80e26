"""Forms for writing and changing posts. They parse input; the rules live in services."""

from __future__ import annotations

import secrets

from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField, TextAreaField


def new_idempotency_key() -> str:
    """A fresh key for one rendered form, so a double-clicked submit makes one post."""
    return secrets.token_urlsafe(24)


class PostForm(FlaskForm):
    body = TextAreaField("Your reflection")
    idempotency_key = HiddenField()
    submit = SubmitField("Post reflection")

    def ensure_key(self) -> None:
        """Give the form a key when it is first shown; keep the one it came back with."""
        if not self.idempotency_key.data:
            self.idempotency_key.data = new_idempotency_key()


class EditPostForm(FlaskForm):
    body = TextAreaField("Your reflection")
    submit = SubmitField("Save changes")


class DeletePostForm(FlaskForm):
    submit = SubmitField("Delete this post")
