"""Bounces that arrive after the SMTP conversation: delivery status notifications.

A relay that accepted a message and failed to deliver it later sends a DSN (RFC 3464): a
``multipart/report; report-type=delivery-status`` message whose ``message/delivery-status``
part holds one block of fields per recipient. Each recipient whose ``Action`` is
``failed`` with a permanent ``Status`` (5.x.x) is marked bouncing, as a 5xx during the
conversation would be (see notifications.delivery). Delays (4.x.x), successes and mail
that is not a DSN change nothing.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message

from notifications.preferences import mark_bouncing

_STATUS = re.compile(r"^\s*([245])\.\d{1,3}\.\d{1,3}\b")


@dataclass
class BounceReport:
    """What one or more DSNs said: addresses marked bouncing, and what was left alone."""

    bouncing: list[str] = field(default_factory=list)
    ignored_recipients: int = 0
    not_dsn: int = 0

    def add(self, other: BounceReport) -> None:
        self.bouncing.extend(other.bouncing)
        self.ignored_recipients += other.ignored_recipients
        self.not_dsn += other.not_dsn


def _field_blocks(part: Message) -> list[Message]:
    """The blocks of fields of a message/delivery-status part (per-message, then per-recipient)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = payload if isinstance(payload, str) else ""
    return [email.message_from_string(block) for block in re.split(r"\r?\n\s*\r?\n", text)]


def _address(value: str | None) -> str | None:
    """``rfc822; someone@example.org`` -> ``someone@example.org`` (other types: None)."""
    if not value:
        return None
    kind, sep, address = str(value).partition(";")
    if not sep or kind.strip().lower() != "rfc822":
        return None
    address = address.strip().strip("<>").strip()
    if not address or "@" not in address or re.search(r"[\s\x00-\x1f\x7f]", address):
        return None
    return address


def failed_recipients(message: Message) -> tuple[list[tuple[str, str]], int] | None:
    """(address, status) for each permanent failure in a DSN, and how many recipients were
    not permanent failures; None when ``message`` is not a delivery status notification."""
    if message.get_content_type() != "multipart/report":
        return None
    report_type = message.get_param("report-type")
    if not isinstance(report_type, str) or report_type.lower() != "delivery-status":
        return None
    failed: list[tuple[str, str]] = []
    ignored = 0
    found = False
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        found = True
        for block in _field_blocks(part):
            recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
            if recipient is None:
                continue  # the per-message block
            action = str(block.get("Action") or "").strip().lower()
            status = str(block.get("Status") or "")
            address = _address(str(recipient))
            matched = _STATUS.match(status)
            if action == "failed" and matched and matched.group(1) == "5" and address:
                failed.append((address, status.strip()))
            else:
                ignored += 1
    return (failed, ignored) if found else None


def process_dsn(raw: bytes) -> BounceReport:
    """Mark the permanent failures of one DSN bouncing (flush only; the caller commits)."""
    report = BounceReport()
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    result = failed_recipients(message)
    if result is None:
        report.not_dsn += 1
        return report
    failed, report.ignored_recipients = result
    for address, status in failed:
        mark_bouncing(address, f"delivery status notification: {status}"[:500])
        report.bouncing.append(address.lower())
    return report
