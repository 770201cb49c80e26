"""Turning what a message says into an email: templates, footer, headers, Message-IDs."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email import policy
from email.charset import QP, Charset
from email.header import Header
from email.mime.text import MIMEText
from email.utils import make_msgid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_mail import Message
from markupsafe import Markup
from werkzeug.routing import BuildError

from forum.urls import external_url

if TYPE_CHECKING:
    from forum.courses.models import Course

# Any C0 control (CR and LF included), DEL and the C1 block: none belongs in a header.
_HEADER_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class HeaderInjectionError(ValueError):
    """A subject or header value carried a line break or another control character."""


def check_header_value(name: str, value: str | None) -> None:
    """Raise HeaderInjectionError if ``value`` could break out of its header line."""
    if value is not None and _HEADER_CONTROL.search(value):
        raise HeaderInjectionError(f"{name} contains a line break or control character")


def message_domain() -> str:
    """The domain part of every Message-ID and List-Id: BASE_URL's host, the same on every
    machine (never ``socket.getfqdn()``), so it aligns with the site the links point to."""
    return (urlsplit(current_app.config["BASE_URL"]).hostname or "hearth.invalid").lower()


def new_message_id() -> str:
    """A globally unique Message-ID, generated once when a message is queued."""
    return make_msgid(domain=message_domain())


# RFC 2919: the list's identifier is a dot-atom; course slugs are made of these already,
# anything else becomes a hyphen so an odd slug can never break the header.
_NOT_LIST_ID_CHAR = re.compile(r"[^a-z0-9-]+")
MAX_LIST_PHRASE_CHARS = 80


def list_id_phrase(description: str) -> str:
    """A List-Id's human part, header-safe: a quoted string, or RFC 2047 words if not ASCII.

    Encoded words may stand in a phrase but never inside quotes (RFC 2047 section 5), so
    non-ASCII titles are encoded whole; each encoded word stays within 75 characters.
    """
    words = " ".join(_HEADER_CONTROL.sub(" ", description).split())
    if len(words) > MAX_LIST_PHRASE_CHARS:
        words = words[: MAX_LIST_PHRASE_CHARS - 1].rstrip() + "…"
    if words.isascii():
        return '"' + words.replace("\\", "\\\\").replace('"', '\\"') + '"'
    encoded = Header(words, "utf-8", maxlinelen=75).encode(linesep="\n")
    return " ".join(encoded.split())


def list_id(description: str, *labels: str) -> str:
    """A List-Id header value (RFC 2919): ``"description" <label.label.site-host>``.

    The identifier ends in the site's own host (from BASE_URL), so it is unique to this
    installation and stable for as long as the labels are: filters people write on it
    keep working.
    """
    parts = [_NOT_LIST_ID_CHAR.sub("-", label.lower()).strip("-") or "list" for label in labels]
    return f"{list_id_phrase(description)} <{'.'.join([*parts, message_domain()])}>"


def course_list_id(course: Course) -> str:
    """The list of one course's discussion mail: ``"Title" <slug.courses.site-host>``."""
    return list_id(course.title, course.slug, "courses")


def digest_list_id() -> str:
    """The list of the daily digest, which may span courses: one per site."""
    return list_id(f"{current_app.config['SITE_NAME']} digest", "digest")


def discussion_list_id() -> str:
    """The list of discussion mail that belongs to no one course (all discussion)."""
    return list_id(f"{current_app.config['SITE_NAME']} discussion", "discussion")


def link(endpoint: str, **values) -> str:
    """An absolute link from BASE_URL; the site's home if the page doesn't exist (yet)."""
    try:
        return external_url(endpoint, **values)
    except BuildError:
        return current_app.config["BASE_URL"].rstrip("/") + "/"


@dataclass(frozen=True)
class Footer:
    """The three links every discussion email ends with."""

    preferences_url: str
    all_discussion_url: str
    scope_url: str | None = None  # "Unsubscribe from this thread" (or module)
    scope_label: str | None = None  # "this thread" / "this module"


def render_footer(footer: Footer) -> tuple[str, str]:
    """Plain-text and HTML footers."""
    return (
        render_template("email/_footer.txt", footer=footer),
        render_template("email/_footer.html", footer=footer),
    )


def render_email(name: str, **context) -> tuple[str, str]:
    """Render templates/email/<name>.txt and .html: the body, before layout and footer."""
    return (
        render_template(f"email/{name}.txt", **context),
        render_template(f"email/{name}.html", **context),
    )


def wrap_bodies(text: str, html_inner: str | None, footer: Footer | None) -> tuple[str, str]:
    """Put a body into the shared HTML layout and append the footer to both parts."""
    footer_text, footer_html = render_footer(footer) if footer else ("", "")
    text = text.rstrip() + "\n"
    if footer_text:
        text += "\n-- \n" + footer_text.strip() + "\n"
    if html_inner is None:
        html_inner = render_template("email/_text_as_html.html", text=text_without_footer(text))
    html = render_template(
        "email/_layout.html",
        content=Markup(html_inner),  # noqa: S704 (rendered by our own autoescaped templates)
        footer_html=Markup(footer_html),  # noqa: S704
    )
    return text, html


def text_without_footer(text: str) -> str:
    return text.split("\n-- \n", 1)[0]


# compat32 rules with CRLF: header values go out exactly as set (Flask-Mail has already
# encoded the non-ASCII ones), folded only past SMTP's hard limit of 998 columns.
_SMTP_POLICY = policy.compat32.clone(linesep="\r\n", max_line_length=998)


class HearthMessage(Message):
    """Flask-Mail's Message, with bodies safe for any SMTP server and unfolded URIs.

    - Flask-Mail sends utf-8 bodies as 8bit, so a long paragraph becomes a line longer
      than SMTP's 998-byte limit: bodies go out quoted-printable instead.
    - It generates with ``policy.SMTP``, whose 78-column folding turns a long
      List-Unsubscribe into RFC 2047 encoded words that mail clients don't decode (and
      which re-parses every header on output, the bulk of the CPU time).
    - Its constructor makes a Message-ID with ``socket.getfqdn()``, a DNS lookup per
      message; ours are made once, at queue time, so the constructor takes one instead.
    """

    def __init__(
        self,
        subject: str,
        recipients: list[str],
        body: str,
        html: str | None,
        message_id: str,
        extra_headers: dict[str, str],
        date: float | None = None,
    ):
        # The same attributes Flask-Mail 0.10's Message.__init__ sets (the version is pinned).
        self.recipients = list(recipients)
        self.subject = subject
        self.sender = current_app.extensions["mail"].default_sender
        self.reply_to = None
        self.cc = []
        self.bcc = []
        self.body = body
        self.alts = {}
        self.html = html
        self.date = date
        self.msgId = message_id
        self.charset = None
        self.extra_headers = extra_headers
        self.mail_options = []
        self.rcpt_options = []
        self.attachments = []

    def _mimetext(self, text: str | None, subtype: str = "plain") -> MIMEText:
        charset = Charset("utf-8")
        charset.body_encoding = QP
        return MIMEText(text or "", _subtype=subtype, _charset=charset)  # type: ignore[arg-type]

    def _message(self):
        msg = super()._message()
        msg.policy = _SMTP_POLICY
        return msg


@dataclass(frozen=True)
class OutgoingMail:
    """What one message says, before it becomes bytes (see notifications.outbox)."""

    to_address: str
    category: str
    message_id: str
    subject: str
    text_body: str
    html_body: str | None
    list_unsubscribe_url: str | None
    list_id: str | None = None  # a List-Id header value (see list_id), for list mail


# Mail sent to people who follow something (a thread, a module, the digest): list mail.
LIST_CATEGORIES = frozenset({"discussion", "digest"})


def check_headers(
    subject: str, to_address: str, message_id: str, list_unsubscribe_url: str | None
) -> None:
    """Raise HeaderInjectionError if any of a message's own header values could break."""
    check_header_value("Subject", subject)
    check_header_value("To", to_address)
    check_header_value("Message-ID", message_id)
    check_header_value("List-Unsubscribe", list_unsubscribe_url)


def build_message(mail: OutgoingMail, date: float | None = None) -> HearthMessage:
    """A Flask-Mail Message for one outbox row; raises HeaderInjectionError if unsafe."""
    check_headers(mail.subject, mail.to_address, mail.message_id, mail.list_unsubscribe_url)
    check_header_value("List-Id", mail.list_id)
    # Every message Hearth sends is made by a machine, account mail included (nobody
    # typed it): RFC 3834 asks out-of-office and other auto-responders not to answer.
    headers = {"Auto-Submitted": "auto-generated"}
    if mail.list_id:
        # RFC 2919. Without it, List-Unsubscribe alone reads as half a mailing list to spam
        # filters (SpamAssassin's LIST_PARTIAL_SHORT_MSG), and people can't filter on it.
        headers["List-Id"] = mail.list_id
    if mail.list_unsubscribe_url:
        # RFC 2369 and RFC 8058: one-click unsubscribe, a POST without a login.
        headers["List-Unsubscribe"] = f"<{mail.list_unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if mail.category in LIST_CATEGORIES:
        # Only list mail: auto-responders that predate RFC 3834 skip bulk mail, and spam
        # filters read it with List-Id as a real list. Never on account mail or alerts,
        # which are one person's business and must not be sorted away as bulk.
        headers["Precedence"] = "bulk"
    message = HearthMessage(
        subject=mail.subject,
        recipients=[mail.to_address],
        body=mail.text_body,
        html=mail.html_body,
        message_id=mail.message_id,
        extra_headers=headers,
        date=date,
    )
    if message.has_bad_headers():
        raise HeaderInjectionError("a header of this message contains a line break")
    return message


def raw_message(mail: OutgoingMail, date: float) -> bytes:
    """The bytes that go over SMTP, built once when the message is queued.

    A retry sends exactly these bytes again: same Message-ID, same Date (the moment the
    message was composed, as RFC 5322 defines it), with only a fresh DKIM signature in
    front when the worker signs (notifications.dkim). Raises ValueError (HeaderInjectionError,
    UnicodeError) when the message can't be written, e.g. for an address that isn't ASCII.
    """
    return build_message(mail, date).as_bytes()


@dataclass(frozen=True)
class ReadMail:
    """A stored message read back: its headers and plain-text body."""

    subject: str
    to: str
    from_: str
    date: str
    message_id: str
    list_unsubscribe: str
    text: str
    html: str | None


def read_message(raw: bytes) -> ReadMail:
    """Parse stored bytes the way a mail client would (the dev mail page, the tests)."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    return ReadMail(
        subject=str(msg.get("Subject", "")),
        to=str(msg.get("To", "")),
        from_=str(msg.get("From", "")),
        date=str(msg.get("Date", "")),
        message_id=str(msg.get("Message-ID", "")),
        list_unsubscribe=str(msg.get("List-Unsubscribe", "")),
        text=text_part.get_content() if text_part is not None else "",
        html=html_part.get_content() if html_part is not None else None,
    )
