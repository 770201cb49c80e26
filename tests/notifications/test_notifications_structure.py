"""How notifications is put together: enum columns, and one module that commits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import StatementError

from forum.extensions import db
from notifications.models import (
    Category,
    Delivery,
    EventStatus,
    NotificationEvent,
    NotificationPreference,
    OutboxMessage,
    OutboxStatus,
    Subscription,
    SubscriptionMode,
    UnsubscribeScope,
    UnsubscribeToken,
)

PACKAGE = Path(__file__).resolve().parents[2] / "notifications"


@pytest.mark.parametrize(
    ("column", "enum"),
    [
        (Subscription.mode, SubscriptionMode),
        (NotificationPreference.delivery, Delivery),
        (NotificationEvent.status, EventStatus),
        (OutboxMessage.category, Category),
        (OutboxMessage.status, OutboxStatus),
        (UnsubscribeToken.scope, UnsubscribeScope),
    ],
)
def test_status_category_and_mode_columns_are_enum_typed(column, enum):
    assert column.type.enum_class is enum
    assert column.type.native_enum is False  # a VARCHAR: new members need no migration


def test_enum_columns_load_members_and_refuse_unknown_values(app, course, people):
    with app.app_context():
        db.session.execute(
            insert(Subscription).values(
                user_id=people["bea"].id, prompt_id=course.prompt_id, mode="digest"
            )
        )
        mode = db.session.execute(select(Subscription.mode)).scalar_one()
        assert mode is SubscriptionMode.DIGEST
        with pytest.raises(StatementError):
            db.session.execute(
                insert(Subscription).values(
                    user_id=people["cal"].id, prompt_id=course.prompt_id, mode="loud"
                )
            )
        db.session.rollback()


def test_only_the_worker_commits_or_rolls_back():
    """Services, views, fan-out, delivery and digests flush; worker.py decides what is
    durable, and the CLI's transactional group commits the other commands."""
    pattern = re.compile(r"\.(commit|rollback)\(")
    offenders = {
        path.name
        for path in PACKAGE.glob("*.py")
        if path.name != "worker.py" and pattern.search(path.read_text())
    }
    assert offenders == set()
    assert pattern.search((PACKAGE / "worker.py").read_text())


def test_the_cli_group_is_transactional_but_the_worker_is_not():
    from forum.transactions import TransactionalGroup
    from notifications.cli import notifications_cli, worker_command

    assert isinstance(notifications_cli, TransactionalGroup)
    assert set(notifications_cli.commands) == {"worker", "digest", "prune", "status", "bounces"}
    # The worker commits as it goes: not wrapped in one transaction for its whole run.
    assert "transactional.<locals>.wrapper" not in _wrappers(worker_command.callback)
    for name in ("digest", "prune", "status", "bounces"):
        assert "transactional.<locals>.wrapper" in _wrappers(
            notifications_cli.commands[name].callback
        )


def _wrappers(func) -> list[str]:
    names = []
    while func is not None:
        names.append(func.__code__.co_qualname)  # wraps() copies __qualname__
        func = getattr(func, "__wrapped__", None)
    return names
