"""Listening to the core's signals. Each receiver runs inside the sender's transaction."""

from __future__ import annotations

from flask import Flask

from forum import signals
from notifications import services


def _site(app: Flask) -> str:
    return app.config["SITE_NAME"]


def on_post_created(app: Flask, post, **_extra) -> None:
    services.subscribe_author(post)


def on_post_published(app: Flask, post, **_extra) -> None:
    services.record_new_post(post)


def on_post_status_changed(app: Flask, post, new_status, **_extra) -> None:
    # The worker would cancel it anyway when it re-reads the post; this saves it the trip.
    from notifications.fanout import cancel_new_post

    if new_status != "visible":
        cancel_new_post(post)


def on_signup_confirmation_requested(app: Flask, user, url: str, **_extra) -> None:
    services.queue_account_email(
        user, "account_confirm_signup", f"Confirm your email address for {_site(app)}", url=url
    )


def on_signup_attempted_for_existing_account(
    app: Flask, user, login_url: str, reset_url: str, **_extra
) -> None:
    services.queue_account_email(
        user,
        "account_existing_signup",
        f"You already have an account on {_site(app)}",
        login_url=login_url,
        reset_url=reset_url,
    )


def on_password_reset_requested(app: Flask, user, url: str, **_extra) -> None:
    services.queue_account_email(
        user, "account_password_reset", f"Reset your {_site(app)} password", url=url
    )


def on_password_changed(app: Flask, user, **_extra) -> None:
    services.queue_account_email(
        user, "account_password_changed", f"Your {_site(app)} password was changed"
    )


def on_email_change_requested(app: Flask, user, new_email: str, url: str, **_extra) -> None:
    # The confirmation goes to the new address: only its owner can finish the change.
    services.queue_account_email(
        new_email,
        "account_email_change_requested",
        f"Confirm your new email address for {_site(app)}",
        url=url,
        display_name=user.display_name,
    )


def on_email_changed(app: Flask, user, old_email: str, **_extra) -> None:
    # Tell the old address, so a stolen session can't quietly take the account.
    services.queue_account_email(
        old_email,
        "account_email_changed",
        f"The email address of your {_site(app)} account was changed",
        display_name=user.display_name,
    )


def connect(app: Flask) -> None:
    """Connect the receivers for this app only (tests build many apps)."""
    pairs = [
        (signals.post_created, on_post_created),
        (signals.post_published, on_post_published),
        (signals.post_status_changed, on_post_status_changed),
        (signals.signup_confirmation_requested, on_signup_confirmation_requested),
        (
            signals.signup_attempted_for_existing_account,
            on_signup_attempted_for_existing_account,
        ),
        (signals.password_reset_requested, on_password_reset_requested),
        (signals.password_changed, on_password_changed),
        (signals.email_change_requested, on_email_change_requested),
        (signals.email_changed, on_email_changed),
    ]
    for signal, receiver in pairs:
        # weak=False: the functions live for the process; sender=app scopes them.
        signal.connect(receiver, sender=app, weak=False)  # type: ignore[type-var]
    app.extensions["notifications_receivers"] = pairs
