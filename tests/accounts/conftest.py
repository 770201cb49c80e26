import pytest

from forum.accounts.models import Role
from tests.conftest import TEST_PASSWORD

PASSWORD = TEST_PASSWORD


@pytest.fixture
def participant(make_user):
    return make_user(Role.PARTICIPANT, email="pat@example.com", name="Pat")


@pytest.fixture
def web_login():
    """Log in through the real login form; returns the response."""

    def _login(client, email, password=PASSWORD, remember=False, next_url=None):
        data = {"email": email, "password": password}
        if remember:
            data["remember"] = "y"
        if next_url is not None:
            data["next"] = next_url
        return client.post("/account/login", data=data)

    return _login
