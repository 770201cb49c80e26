"""Small helpers shared by the account tests."""

from __future__ import annotations

import html
from contextlib import contextmanager
from types import SimpleNamespace
from urllib.parse import urlsplit

from forum.accounts.models import User
from forum.extensions import db


@contextmanager
def capture(signal):
    """Collect the keyword arguments of every send of ``signal`` inside the block."""
    sent: list[dict] = []

    def _receiver(sender, **kwargs):
        # Snapshot users now: the instances expire when the view commits.
        sent.append(
            {
                key: SimpleNamespace(id=value.id, email=value.email, name=value.display_name)
                if isinstance(value, User)
                else value
                for key, value in kwargs.items()
            }
        )

    with signal.connected_to(_receiver):
        yield sent


def path_of(url: str) -> str:
    """The path and query of an absolute link from an email, for the test client."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def fetch_user(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def logged_in_user_id(client) -> int | None:
    """Which user a client's cookie session says is logged in, if any."""
    with client.session_transaction() as session:
        value = session.get("_user_id")
    return int(value.split(":")[0]) if value else None


def is_logged_in(client) -> bool:
    """True if the settings page opens for this client, i.e. the server accepts its cookies."""
    return client.get("/account/settings").status_code == 200


def text(response) -> str:
    """A response's body with HTML entities decoded, for looking for sentences in it."""
    return html.unescape(response.get_data(as_text=True))
