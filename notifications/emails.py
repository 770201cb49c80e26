"""Turning an outbox row into an email: templates, footer, headers, Message-IDs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.charset import QP, Charset
from email.mime.text import MIMEText
from email.utils import make_msgid
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_mail import Message
from markupsafe import Markup
from werkzeug.routing import BuildError

from forum.urls import external_url

# Any C0 control (CR and LF included), DEL and the C1 block: none belongs in a header.
_HEADER_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class HeaderInjectionError(ValueError):
    """A subject or header value carried a line break or another control character."""


def check_header_value(name: str, value: str | None) -> None:
    """Raise HeaderInjectionError if ``value`` could break out of its header line."""
    if value is not None and _HEADER_CONTROL.search(value):
        raise HeaderInjectionError(f"{name} contains a line break or control character")


def message_domain() -> str:
    """The domain part of every Message-ID: BASE_URL's host, fixed across machines."""
    return urlsplit(current_app.config["BASE_URL"]).hostname or "hearth.invalid"


def new_message_id() -> str:
    """A globally unique Message-ID, generated once when a message is queued."""
    return make_msgid(domain=message_domain())


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
    """What the sender needs from an outbox row, detached from the database session."""

    id: int
    to_address: str
    category: str
    message_id: str
    subject: str
    text_body: str
    html_body: str | None
    list_unsubscribe_url: str | None
    raw: bytes | None = None  # the message as built at queue time


def check_headers(mail: OutgoingMail) -> None:
    """Raise HeaderInjectionError if any header value of ``mail`` could break its line."""
    check_header_value("Subject", mail.subject)
    check_header_value("To", mail.to_address)
    check_header_value("Message-ID", mail.message_id)
    check_header_value("List-Unsubscribe", mail.list_unsubscribe_url)


def build_message(mail: OutgoingMail, date: float | None = None) -> HearthMessage:
    """A Flask-Mail Message for one outbox row; raises HeaderInjectionError if unsafe."""
    check_headers(mail)
    headers = {}
    if mail.category != "account":
        headers["Auto-Submitted"] = "auto-generated"
    if mail.list_unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{mail.list_unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
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
    message was composed, as RFC 5322 defines it).
    """
    return build_message(mail, date).as_bytes()
