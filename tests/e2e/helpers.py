"""Helpers shared by the browser tests: logging in, and reading the emails the worker wrote."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

from playwright.sync_api import expect

from tests.conftest import TEST_PASSWORD


def log_in(page, base: str, email_address: str, password: str = TEST_PASSWORD) -> None:
    page.goto(base + "/account/login")
    page.get_by_label("Email address").fill(email_address)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def emails_to(folder: Path, address: str) -> list[EmailMessage]:
    """The .eml files the file transport wrote to ``address``, oldest first."""
    found = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]):
            found.append(message)
    return found


def list_unsubscribe_url(message: EmailMessage) -> str:
    """The https/http address in the List-Unsubscribe header (RFC 8058 one-click)."""
    [url] = re.findall(r"<(https?://[^>]+)>", str(message["List-Unsubscribe"]))
    return url


def footer_links(message: EmailMessage) -> dict[str, str]:
    """The links in the HTML part's footer, by their text."""
    html = message.get_body(preferencelist=("html",)).get_content()
    footer = html[html.rindex("<footer") :]
    return {
        re.sub(r"\s+", " ", text).strip(): href.replace("&amp;", "&")
        for href, text in re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', footer, re.S)
    }
