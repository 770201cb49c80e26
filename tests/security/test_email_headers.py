"""What reaches an email header can't break out of it: display names, addresses, course
and thread titles in subjects and List-Id. Hostile titles and names end up single-line
and encoded in the headers, and escaped in every kind of message's HTML part."""

from __future__ import annotations

import email
import email.policy
import re

import pytest
from sqlalchemy import update

from forum.accounts import services as accounts
from forum.courses.models import Course, Prompt
from forum.extensions import db
from notifications.emails import HeaderInjectionError, check_header_value, list_id, list_id_phrase
from tests.notifications import conftest as notification_fixtures
from tests.notifications import test_deliverability as deliverability
from tests.notifications.helpers import post_as, subscribe, work

INJECTION = "\r\nBcc: victim@example.net\r\nX-Injected: yes"
HOSTILE_TITLE = f'Allyship "basics" 🔥 <script>alert("xss")</script>{INJECTION}\u2028end'
HOSTILE_NAME = '"><script>alert(1)</script>Zoë 🌱'
course = notification_fixtures.course
smtp_sink = notification_fixtures.smtp_sink
KNOWN_HEADERS = {
    "content-type", "mime-version", "subject", "from", "to", "date", "message-id",
    "list-id", "list-unsubscribe", "list-unsubscribe-post", "precedence",
    "auto-submitted", "x-auto-response-suppress", "content-transfer-encoding", "reply-to",
    "sender", "feedback-id", "x-entity-ref-id", "dkim-signature", "references", "in-reply-to",
}  # fmt: skip


@pytest.fixture
def app_config(smtp_sink):
    return {
        "NOTIFICATIONS_EDIT_WINDOW": 0,
        "NOTIFICATIONS_DIGEST_HOUR": None,
        "NOTIFICATIONS_TRANSPORT": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_sink.port,
        "MAIL_TIMEOUT": 5,
    }


def header_problems(raw: bytes) -> list[str]:
    """Injected or broken header lines in a raw message (its top-level header block)."""
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    problems = []
    names = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t"):
            continue  # a folded continuation
        name = line.split(b":", 1)[0].decode("ascii", "replace").lower()
        names.append(name)
        if name not in KNOWN_HEADERS:
            problems.append(f"unexpected header {line[:80]!r}")
        if not line.isascii():
            problems.append(f"raw non-ASCII header {line[:80]!r}")
    if names.count("to") != 1 or names.count("subject") != 1:
        problems.append(f"header counts: {names}")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for name in ("Subject", "From", "To", "List-Id", "Reply-To"):
        value = message[name]
        if value is not None and re.search(r"[\r\n\x00\u2028\u2029]", str(value)):
            problems.append(f"{name} decodes to more than one line: {str(value)!r}")
    return problems


def html_problems(html: str) -> list[str]:
    from tests.test_hostile_input import _page_problems

    return _page_problems(html)


def test_the_checks_can_fail():
    raw = b"To: a@example.com\r\nSubject: Hi\r\nBcc: victim@example.net\r\n\r\nbody"
    assert header_problems(raw)
    assert html_problems("<p><script>alert(1)</script></p>")


@pytest.mark.parametrize(
    "value", ["a\r\nBcc: x", "a\nb", "a\rb", "a\x00b", "a\u2028b", "a\x85b", "a\tb"]
)
def test_header_values_with_line_breaks_are_refused(value):
    with pytest.raises(HeaderInjectionError):
        check_header_value("Subject", value)


def test_list_id_phrase_is_one_line_whatever_the_title(app):
    with app.app_context():
        for title in (HOSTILE_TITLE, INJECTION, "\r\n", "🔥" * 100, '"\\"'):
            value = list_id(title, "slug\r\nX: y", "courses")
            assert not re.search(r"[\r\n\x00]", value), value
            assert value.isascii()
            phrase = list_id_phrase(title)
            assert "\n" not in phrase and "\r" not in phrase


@pytest.mark.parametrize("name", [f"Eve{INJECTION}", "Eve\rBcc: x", "Eve\u2028X: y", "Eve\x00"])
def test_display_names_never_carry_line_breaks(app, name):
    with app.app_context():
        try:
            cleaned = accounts.clean_display_name(name)
        except accounts.AccountError:
            return  # refused outright is fine too
        assert not re.search(r"[\r\n\x00\u2028\u2029]", cleaned)


@pytest.mark.parametrize(
    "address",
    [f"eve@example.com{INJECTION}", "eve@example.com\r\n", "eve\r\n@example.com",
     "eve@example.com\nBcc: x@example.net", "eve@exa\u2028mple.com", "eve@example.com\x00"],
)  # fmt: skip
def test_addresses_with_line_breaks_are_refused(app, address):
    with app.app_context():
        try:
            normalized = accounts.normalize_email(address)
        except accounts.AccountError:
            return
    # Only surrounding whitespace is trimmed: what is stored is one clean line.
    assert address.strip() == normalized and not re.search(r"[\r\n\x00]", normalized)


def _hostile_titles(app) -> None:
    with app.app_context():
        db.session.execute(update(Course).values(title=HOSTILE_TITLE))
        db.session.execute(update(Prompt).values(title=HOSTILE_TITLE))
        db.session.commit()


def test_a_hostile_course_title_reaches_the_new_post_email_as_one_encoded_line(
    app,
    course,
    smtp_sink,
):
    _hostile_titles(app)
    with app.app_context():
        bea = deliverability._user("bea@example.com", accounts.clean_display_name(HOSTILE_NAME))
        ada = deliverability._user("ada@example.com", accounts.clean_display_name(HOSTILE_NAME))
        subscribe([bea.id], prompt_id=course.prompt_id)
        db.session.commit()
        post_as(ada.id, course.prompt_id, "A reflection with <script>alert(3)</script> in it.")
    work(app)
    [mail] = smtp_sink.to("bea@example.com")
    assert not header_problems(mail.raw), header_problems(mail.raw)
    message = mail.message
    subject = str(message["Subject"])
    assert "basics" in subject and "🔥" in subject  # readable once decoded
    assert b"=?utf-8?" in mail.raw.split(b"\r\n\r\n", 1)[0].lower()  # and encoded on the wire
    assert message["Bcc"] is None and message["X-Injected"] is None
    list_header = str(message["List-Id"])
    assert list_header.endswith("<allyship.courses.hearth.test>"), list_header
    assert not html_problems(mail.html)
    assert "&lt;script&gt;" in mail.html


def test_every_kind_of_email_with_hostile_titles_and_names(app, course, smtp_sink, monkeypatch):
    _hostile_titles(app)
    real_user = deliverability._user

    def hostile_user(address, name, password=False):
        return real_user(
            address, accounts.clean_display_name(f"{name[:20]} {HOSTILE_NAME}"), password
        )

    monkeypatch.setattr(deliverability, "_user", hostile_user)
    sent = deliverability.send_every_kind(app, course, smtp_sink)
    assert len(sent) >= 10
    problems = {}
    for kind, one in sent.items():
        found = header_problems(one.received.raw) + html_problems(one.received.html)
        if found:
            problems[kind] = found
    assert not problems
