"""Templates mark nothing safe but HTML that came out of forum.markup's sanitiser; Python
code builds Markup only in the known email-layout spots."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# `<something>.body_html|safe`: a StoredMarkdown column, written only by render_markdown.
# `<something>.snapshot_html|safe`: moderation's copy of a post's body_html, taken when it
# was flagged (moderation/services.py: ``snapshot_html=post.body_html``).
ALLOWED_SAFE = re.compile(r"\{\{\s*[a-z_][\w.]*\.(body_html|snapshot_html)\s*\|\s*safe\s*\}\}")
SAFE_USE = re.compile(r"\|\s*safe\b|\bMarkup\s*\(|autoescape\s+false|filter\s+safe\b", re.I)
# Python: notifications/emails.py wraps its own autoescaped templates' output for the layout.
ALLOWED_PY_MARKUP = {
    ("notifications/emails.py", "content=Markup(html_inner),"),
    ("notifications/emails.py", "footer_html=Markup(footer_html),"),
    # The thread's shared post list: threads/_posts.html's own (autoescaped) output, cached.
    ("forum/threads/views.py", "return Markup(html)"),
    # A signed-in reader's frame: a constant mark where their posts go (frames.fill).
    ("forum/threads/views.py", "items = [Markup(frames.POSTS_MARK)] if shared else []"),
    # The support queue's shared listing: support/_queue_listing.html's own (autoescaped)
    # output, cached, with the reader's token, claims and waiting times put in as text.
    (
        "forum/support/views.py",
        'return render_template("support/queue.html", listing=Markup(listing))',
    ),
    # The moderation queue's shared part: moderation/_queue_shared.html's own (autoescaped)
    # output, cached, with escaped names, titles, times, claims and the token put in.
    ("moderation/queue_cache.py", 'return Markup("".join(parts))'),
}


def unsafe_template_uses(text: str) -> list[str]:
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        cleaned = ALLOWED_SAFE.sub("", line)
        if SAFE_USE.search(cleaned):
            problems.append(f"{number}: {line.strip()}")
    return problems


def test_templates_mark_only_sanitised_columns_safe():
    problems = {}
    templates = sorted((ROOT / "templates").rglob("*.html")) + sorted(
        (ROOT / "templates").rglob("*.txt")
    )
    assert len(templates) > 20
    for path in templates:
        found = unsafe_template_uses(path.read_text(encoding="utf-8"))
        if found:
            problems[str(path.relative_to(ROOT))] = found
    assert not problems


def test_python_builds_markup_only_in_the_email_layout():
    found = set()
    for package in ("forum", "moderation", "notifications"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if re.search(r"\bMarkup\s*\(|\|\s*safe\s*}}|autoescape=False|\.__html__\b", line):
                    found.add((path.relative_to(ROOT).as_posix(), line.strip().split("  #")[0]))
    assert found == ALLOWED_PY_MARKUP


def test_the_scan_can_fail():
    assert unsafe_template_uses("{{ post.title|safe }}")
    assert unsafe_template_uses("{{ user.display_name | safe }}")
    assert unsafe_template_uses("{% autoescape false %}{{ x }}{% endautoescape %}")
    assert unsafe_template_uses("{% filter safe %}{{ x }}{% endfilter %}")
    assert unsafe_template_uses("{{ Markup(x) }}")
    assert unsafe_template_uses("{{ post.body_html|safe }} {{ post.body_source|safe }}")
    assert not unsafe_template_uses("<div>{{ post.body_html|safe }}</div>")
    assert not unsafe_template_uses("{{ item.snapshot_html|safe }}")
