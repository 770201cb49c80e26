"""``flask support detect``: one tier per input line, in order, and nothing else."""

from __future__ import annotations

import pytest

from forum.support import init_app
from forum.support.cli import MAX_LINE_BYTES, support_cli


def _detect(runner, data: str | bytes):
    # Invoked on the group itself, so the command is reachable whether or not create_app has
    # called forum.support.init_app yet.
    result = runner.invoke(support_cli, ["detect"], input=data)
    assert result.exception is None, result.output
    assert result.exit_code == 0
    return result.output


def test_one_tier_per_line_in_order(runner):
    text = (
        "I want to kill myself\n"
        "I'm really struggling this week\n"
        "The article described how lynching terrorised communities\n"
        "\n"
        "I'm dying to read the next module\n"
        "i cant cope anymore\n"
        "   \n"
        "I feel like a burden to everyone"
    )
    assert _detect(runner, text).splitlines() == [
        "crisis",
        "support",
        "none",
        "none",
        "none",
        "support",
        "none",
        "crisis",
    ]


def test_output_is_only_the_tiers(runner):
    output = _detect(runner, "hello\nI just want to disappear\n")
    assert output == "none\nsupport\n"


def test_no_input_prints_nothing(runner):
    assert _detect(runner, "") == ""


def test_empty_lines_are_none(runner):
    assert _detect(runner, "\n\n\n") == "none\nnone\nnone\n"


def test_windows_line_endings(runner):
    assert _detect(runner, "I want to die\r\nhello\r\n") == "crisis\nnone\n"


def test_bad_utf8_is_replaced_not_fatal(runner):
    data = b"I want to die \xff\xfe\n\xc3\x28 nothing here\nI\xe2\x80\x99m really struggling\n"
    assert _detect(runner, data) == "crisis\nnone\nsupport\n"


@pytest.mark.parametrize("size", [MAX_LINE_BYTES - 1, MAX_LINE_BYTES, 3 * MAX_LINE_BYTES + 7])
def test_very_long_lines_keep_the_line_count(runner, size):
    long_line = b"x" * size
    data = b"I want to die\n" + long_line + b"\nI feel numb\n" + long_line
    assert _detect(runner, data) == "crisis\nnone\nsupport\nnone\n"


def test_distress_at_the_start_of_a_long_line_is_found(runner):
    data = b"I want to die " + b"a" * (2 * MAX_LINE_BYTES) + b"\nhello\n"
    assert _detect(runner, data) == "crisis\nnone\n"


def test_init_app_registers_the_group(app):
    # create_app may already call forum.support.init_app (which also registers a blueprint,
    # so it cannot run twice); either way the group must end up on the app's CLI.
    if "support" not in app.cli.commands:
        init_app(app)
    assert app.cli.commands["support"] is support_cli
    assert "detect" in support_cli.commands


def test_reachable_as_flask_support_detect(app, runner):
    if "support" not in app.cli.commands:
        init_app(app)
    result = runner.invoke(args=["support", "detect"], input="I want to die\nhello\n")
    assert result.exception is None, result.output
    assert result.output == "crisis\nnone\n"
