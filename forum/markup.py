"""The one sanitiser: a user's Markdown becomes safe HTML here, and only here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import bleach
import markdown_it
from bleach.linkifier import LinkifyFilter
from markdown_it import MarkdownIt
from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote",
        "ul", "ol", "li", "a", "h3", "h4", "h5", "h6",
    }
)  # fmt: skip
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow ugc noopener"

# Bump the suffix whenever the allowlist or the renderer's options change, so stored
# HTML written by an older sanitiser can be found and re-rendered.
SANITIZER_VERSION = f"md{markdown_it.__version__}+bleach{bleach.__version__}+r1"


@dataclass(frozen=True)
class RenderedMarkup:
    source: str
    html: str
    sanitizer_version: str


def _allowed_link_attribute(tag: str, name: str, value: str) -> bool:
    # bleach lets scheme-less (relative and protocol-relative) hrefs through; a post
    # may only link out with an explicit http, https or mailto scheme.
    if name == "href":
        scheme, sep, _ = value.partition(":")
        return bool(sep) and scheme.lower() in ALLOWED_PROTOCOLS
    return name in {"title", "rel"}


ALLOWED_ATTRIBUTES = {"a": _allowed_link_attribute, "ol": ["start"]}


def _set_rel(attrs, new=False):
    attrs[(None, "rel")] = LINK_REL
    return attrs


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "typographer": False})
    md.enable(["linkify", "strikethrough"])
    # Headings inside a post must not outrank the page's own h1/h2.
    md.disable("heading")
    md.disable("lheading")
    md.disable("image")
    return md


_MD = _markdown()
_CLEANER = bleach.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    protocols=ALLOWED_PROTOCOLS,
    strip=True,
    strip_comments=True,
    # LinkifyFilter's callbacks also run on links markdown-it already made.
    filters=[partial(LinkifyFilter, callbacks=[_set_rel], parse_email=False)],
)


def render_markdown(source: str) -> RenderedMarkup:
    """Turn a user's Markdown source into sanitised HTML, stamped with the sanitiser version."""
    html = _CLEANER.clean(_MD.render(source))
    return RenderedMarkup(source=source, html=html, sanitizer_version=SANITIZER_VERSION)


class StoredMarkdown:
    """Model mixin: a person's Markdown source, its sanitised HTML and the sanitiser version.

    Both are stored: the source to edit and re-render, the HTML to show. Templates mark
    only ``body_html`` safe, and only :func:`render_markdown` ever writes it.
    """

    body_source: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    sanitizer_version: Mapped[str] = mapped_column(String(64))

    def set_body(self, source: str) -> None:
        """Store ``source`` and its freshly sanitised HTML."""
        self.store_rendered(render_markdown(source))

    def store_rendered(self, rendered: RenderedMarkup) -> None:
        """Store text rendered earlier (e.g. before a write lock was taken)."""
        self.body_source = rendered.source
        self.body_html = rendered.html
        self.sanitizer_version = rendered.sanitizer_version
