"""Fixtures for the fault tests: the notifications suite's small course and its people."""

from tests.notifications.conftest import course, people  # noqa: F401  (fixtures, reused)
