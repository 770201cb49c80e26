"""Forms for the account pages. The rules themselves live in services; forms call them."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, ValidationError

from forum.accounts import services
from forum.accounts.models import Role


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _service_check(check):
    """A WTForms validator that runs a service's rule and shows its message on the field."""

    def _validate(form, field):
        try:
            check(field.data)
        except services.AccountError as exc:
            raise ValidationError(str(exc)) from exc

    return _validate


def _length_cap(limit: int, what: str):
    """Refuse very long input early with a plain message (before any other rule runs)."""

    def _validate(form, field):
        if field.data and len(field.data) > limit:
            raise ValidationError(f"{what} can be at most {limit} characters.")

    return _validate


def _email_field(label: str = "Email address") -> EmailField:
    return EmailField(
        label,
        filters=[_strip],
        validators=[
            DataRequired("Please enter your email address."),
            _length_cap(services.EMAIL_MAX, "An email address"),
            _service_check(services.normalize_email),
        ],
    )


def _new_password_field(label: str) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            InputRequired("Please choose a password."),
            _service_check(services.check_password_rules),
        ],
        description=(
            f"At least {services.PASSWORD_MIN} characters. A few unrelated words work well."
        ),
    )


def _current_password_field(label: str = "Current password") -> PasswordField:
    return PasswordField(
        label,
        validators=[
            InputRequired("Please enter your current password."),
            _length_cap(services.PASSWORD_MAX, "A password"),
        ],
    )


def _display_name_field() -> StringField:
    return StringField(
        "Display name",
        validators=[
            DataRequired("Please enter a display name."),
            _length_cap(1000, "A display name"),
            _service_check(services.clean_display_name),
        ],
        description="Shown beside what you write. It doesn't have to be your full name.",
    )


class SignupForm(FlaskForm):
    email = _email_field()
    display_name = _display_name_field()
    password = _new_password_field("Password")
    next = HiddenField()


class LoginForm(FlaskForm):
    email = EmailField(
        "Email address",
        filters=[_strip],
        validators=[
            DataRequired("Please enter your email address."),
            _length_cap(services.EMAIL_MAX, "An email address"),
        ],
    )
    password = PasswordField(
        "Password",
        validators=[
            InputRequired("Please enter your password."),
            _length_cap(services.PASSWORD_MAX, "A password"),
        ],
    )
    remember = BooleanField("Keep me logged in on this device")
    next = HiddenField()


class EmailOnlyForm(FlaskForm):
    """Forgot password, resend confirmation: only an address."""

    email = _email_field()


class ResetPasswordForm(FlaskForm):
    password = _new_password_field("New password")


class ConfirmForm(FlaskForm):
    """A button that turns a link from an email into a deliberate POST."""


class DisplayNameForm(FlaskForm):
    display_name = _display_name_field()


class ChangePasswordForm(FlaskForm):
    current_password = _current_password_field()
    new_password = _new_password_field("New password")


class ChangeEmailForm(FlaskForm):
    new_email = _email_field("New email address")
    current_password = _current_password_field()


ROLE_CHOICES = [SelectChoice(role.value, role.value.capitalize()) for role in Role]


class RoleForm(FlaskForm):
    user_id = HiddenField(validators=[DataRequired()])
    role = SelectField("Role", choices=ROLE_CHOICES, validate_choice=True)
