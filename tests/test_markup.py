"""The one sanitiser, over every hostile string we have."""

import pytest

from forum.markup import LINK_REL, SANITIZER_VERSION, render_markdown
from tests.hostile import audit_fragment, hostile_strings


def test_markdown_renders_the_basics():
    html = render_markdown("Some **bold** and _em_\n\n- one\n- two\n\n> quoted").html
    assert "<strong>bold</strong>" in html
    assert "<em>em</em>" in html
    assert "<li>one</li>" in html
    assert "<blockquote>" in html


def test_raw_html_is_shown_as_text_not_markup():
    html = render_markdown("<b>not bold</b>").html
    assert "<b>" not in html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html


def test_bare_urls_become_links_with_safe_rel():
    html = render_markdown("see https://example.org/page").html
    assert f'<a href="https://example.org/page" rel="{LINK_REL}">' in html


def test_explicit_links_get_rel_too():
    html = render_markdown("[a page](https://example.org)").html
    assert f'rel="{LINK_REL}"' in html


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](data:text/html,hi)",
        "[x](vbscript:x)",
        "[x](//evil.example)",
        "[x](/relative/path)",
        "[x](ftp://files.example)",
    ],
)
def test_links_without_an_allowed_scheme_lose_their_href(source):
    html = render_markdown(source).html
    assert "href" not in html, html


def test_mailto_links_are_allowed():
    assert (
        'href="mailto:someone@example.org"'
        in render_markdown("[mail](mailto:someone@example.org)").html
    )


def test_headings_and_images_are_not_rendered_as_such():
    html = render_markdown("# Big\n\n![img](https://example.org/x.png)").html
    assert "<h1>" not in html
    assert "<img" not in html


def test_version_is_stamped():
    assert render_markdown("x").sanitizer_version == SANITIZER_VERSION
    assert "bleach6.4.0" in SANITIZER_VERSION


def test_audit_catches_what_it_should():
    # The checker itself must be able to fail.
    assert audit_fragment("<script>x</script>")
    assert audit_fragment('<a href="javascript:x">x</a>')
    assert audit_fragment('<p onclick="x">x</p>')
    assert audit_fragment('<a href="/x">x</a>')
    assert not audit_fragment('<p><a href="https://x.org" rel="nofollow">x</a></p>')


def test_every_hostile_string_renders_to_allowlisted_html():
    strings = hostile_strings()
    assert len(strings) >= 40
    failures = {}
    for source in strings:
        problems = audit_fragment(render_markdown(source).html)
        if problems:
            failures[source] = problems
    assert not failures, list(failures.items())[:5]
