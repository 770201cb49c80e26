"""Who may open a page: ``role_required`` for views that need a role."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from forum.accounts.models import Role


def role_required(*roles: Role):
    """Anonymous visitors go to the login page; logged-in people without a role get 403.

    Admins pass every check (see ``User.has_role``).
    """

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
