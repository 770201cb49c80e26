"""The errors services raise. Each carries the HTTP answer it maps to and a message meant
for the person; ``forum.errors`` turns them into pages, so views need no ``except`` blocks.
"""

from __future__ import annotations


class ServiceError(ValueError):
    """A business rule was broken; the message is written for the person who tried.

    ``status`` is the HTTP answer (422: re-show the form with the message), ``field``
    names the form field the message belongs to, when there is one.
    """

    status = 422

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class PermissionDenied(ServiceError):
    """The acting user may not do this (403)."""

    status = 403


class NotFound(ServiceError):
    """There is nothing here for this user: it does not exist or they may not know it does."""

    status = 404


class Conflict(ServiceError):
    """Someone else changed this first (two moderators, two facilitators): 409."""

    status = 409
