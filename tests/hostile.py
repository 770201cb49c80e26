"""Hostile strings for tests: the shared corpora when HEARTH_CORPORA_DIR points at them
(CI does), else the project's own sample in tests/data/hostile_sample.txt."""

from __future__ import annotations

import json
import os
from html.parser import HTMLParser
from pathlib import Path

from forum.markup import ALLOWED_PROTOCOLS, ALLOWED_TAGS

SAMPLE = Path(__file__).parent / "data" / "hostile_sample.txt"


def _lines(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8", "replace")
    return [line for line in text.split("\n") if line.strip() and not line.startswith("#")]


def hostile_strings() -> list[str]:
    """Every hostile string available, deduplicated, in a stable order."""
    folder = os.environ.get("HEARTH_CORPORA_DIR")
    strings: list[str] = []
    if folder:
        root = Path(folder)
        strings += [s for s in json.loads((root / "blns" / "blns.json").read_text()) if s.strip()]
        for path in sorted((root / "xss").glob("*.txt")):
            strings += _lines(path)
        if not strings:
            raise RuntimeError(f"HEARTH_CORPORA_DIR={folder} holds no strings")
    strings += _lines(SAMPLE)
    return list(dict.fromkeys(strings))


class _Audit(HTMLParser):
    def __init__(self, allowed_tags):
        super().__init__(convert_charrefs=True)
        self.allowed_tags = allowed_tags
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.allowed_tags:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"attribute {name} on <{tag}>")
            if name in {"href", "src", "action", "formaction", "xlink:href", "data"}:
                scheme = (value or "").strip().partition(":")
                if not scheme[1] or scheme[0].lower() not in ALLOWED_PROTOCOLS:
                    self.problems.append(f"{name}={value!r} on <{tag}>")
            if name == "style":
                self.problems.append(f"style on <{tag}>")


def audit_fragment(html: str, allowed_tags=ALLOWED_TAGS) -> list[str]:
    """What in ``html`` breaks the sanitiser's promise: tags, on* attributes, bad schemes."""
    audit = _Audit(allowed_tags)
    audit.feed(html)
    audit.close()
    return audit.problems
