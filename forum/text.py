"""Cleaning text that people type, before any rule looks at it."""

import re

# C0 controls except tab and newline, DEL, and the C1 block. PostgreSQL refuses NUL
# outright, and none of these has a place in a reflection or a name.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidi overrides can make a name or title read differently from what it is.
_BIDI_CONTROL = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def clean_multiline(text: str | None) -> str:
    """Normalise newlines, drop control characters and unpaired surrogates; keep the rest."""
    if not text:
        return ""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def clean_line(text: str | None) -> str:
    """One line of text (a name, a title): no newlines, no controls, no bidi overrides."""
    text = clean_multiline(text).replace("\n", " ").replace("\t", " ")
    return " ".join(_BIDI_CONTROL.sub("", text).split())
