"""The public face of notifications for views, receivers and other packages.

The rules live in one module per subject: ``preferences``, ``subscriptions``,
``unsubscribe``, ``outbox`` (the one way to queue mail), ``events`` (kinds and their
handlers) and ``jobs`` (the worker's periodic jobs). This module only re-exports them, so
other packages import from one place: ``from notifications.services import queue_email``.

Services flush, never commit: every row they write belongs to the caller's transaction.
"""

from __future__ import annotations

from notifications.common import NotificationError
from notifications.emails import HeaderInjectionError
from notifications.events import EventBatch, cancel_events, queue_event, register_event_kind
from notifications.fanout import record_new_post
from notifications.jobs import JobContext, register_job
from notifications.outbox import queue_account_email, queue_email, queue_staff_alert
from notifications.preferences import (
    PAUSE_WEEKS,
    discussion_email_allowed,
    get_preferences,
    is_bouncing,
    is_paused,
    mark_bouncing,
    pause_discussion_email,
    resume_discussion_email,
    update_preferences,
)
from notifications.subscriptions import (
    NO_SUBSCRIPTION,
    SubscriptionState,
    list_subscriptions,
    module_subscription_state,
    set_module_subscription,
    set_thread_subscription,
    subscribe_author,
    thread_subscription_state,
)
from notifications.unsubscribe import (
    ScopeDescription,
    describe_scope,
    ensure_tokens,
    find_token,
    footer_for,
    token_owner_id,
    undo_unsubscribe,
    unsubscribe,
    unsubscribe_url,
)

__all__ = [
    "NO_SUBSCRIPTION",
    "PAUSE_WEEKS",
    "EventBatch",
    "HeaderInjectionError",
    "JobContext",
    "NotificationError",
    "ScopeDescription",
    "SubscriptionState",
    "cancel_events",
    "describe_scope",
    "discussion_email_allowed",
    "ensure_tokens",
    "find_token",
    "footer_for",
    "get_preferences",
    "is_bouncing",
    "is_paused",
    "list_subscriptions",
    "mark_bouncing",
    "module_subscription_state",
    "pause_discussion_email",
    "queue_account_email",
    "queue_email",
    "queue_event",
    "queue_staff_alert",
    "record_new_post",
    "register_event_kind",
    "register_job",
    "resume_discussion_email",
    "set_module_subscription",
    "set_thread_subscription",
    "subscribe_author",
    "thread_subscription_state",
    "token_owner_id",
    "undo_unsubscribe",
    "unsubscribe",
    "unsubscribe_url",
    "update_preferences",
]
