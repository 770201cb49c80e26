"""``flask support detect``: the distress detector over standard input, one text per line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, cast

import click
from flask.cli import AppGroup

from forum.support.detector import MAX_TEXT_CHARS, detect

support_cli = AppGroup("support", help="Support signals: noticing learners who may need help.")

# A line is read in pieces of at most this many bytes, so one enormous line cannot fill
# memory. Past the first piece the rest of the line is skipped: the detector reads no more
# than MAX_TEXT_CHARS characters anyway, and UTF-8 needs at most 4 bytes a character.
MAX_LINE_BYTES = 4 * MAX_TEXT_CHARS


def read_lines(stream: BinaryIO) -> Iterator[str]:
    """Yield each line of a byte stream as text: newline gone, bad UTF-8 replaced, bounded."""
    while True:
        piece = stream.readline(MAX_LINE_BYTES)
        if not piece:
            return
        rest = piece
        while len(rest) == MAX_LINE_BYTES and not rest.endswith(b"\n"):
            rest = stream.readline(MAX_LINE_BYTES)
        yield piece.rstrip(b"\r\n").decode("utf-8", "replace")


# The detector needs nothing from the app (no database, no config), so no app context.
@support_cli.command("detect", with_appcontext=False)
def detect_command() -> None:
    """Read one text per line on standard input; print one tier per line, in order."""
    # Bytes, not text: the decoding (and its error handling) is read_lines' job.
    with click.open_file("-", "rb") as stdin:
        for line in read_lines(cast(BinaryIO, stdin)):
            click.echo(detect(line).tier.value)
