"""axe-core in the browser tests: run it on a page, keep the serious and critical findings.

axe is vendored in ``tests/e2e/vendor`` (see its README) and injected as an inline script,
which the site's CSP (``script-src 'self'``) refuses: pages audited with axe are opened in
a context made with ``bypass_csp=True``, and only those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

AXE_JS = Path(__file__).parent / "vendor" / "axe.min.js"
BLOCKING = ("serious", "critical")

_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 4).map(n => n.target.join(' ')),
  }));
}"""


def axe_violations(page) -> list[dict]:
    """Every serious or critical axe violation on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    assert page.evaluate("typeof window.axe !== 'undefined'"), (
        "axe did not load: open audited pages with new_page(bypass_csp=True)"
    )
    return [v for v in page.evaluate(_RUN) if v["impact"] in BLOCKING]


def describe(violations: list[dict]) -> str:
    return "\n".join(
        f"    {v['id']} ({v['impact']}): {v['help']}\n      at " + "\n      at ".join(v["targets"])
        for v in violations
    )


@dataclass
class Audit:
    """Runs axe on each page it is shown and reports every failing page at once."""

    checked: list[str] = field(default_factory=list)
    failures: dict[str, list[dict]] = field(default_factory=dict)

    def __call__(self, page, label: str) -> None:
        page.wait_for_load_state("load")
        found = axe_violations(page)
        self.checked.append(label)
        if found:
            self.failures[f"{label} ({page.url})"] = found

    def assert_clean(self) -> None:
        print(f"axe-core: {len(self.checked)} pages checked: " + "; ".join(self.checked))
        report = "\n".join(f"  {label}:\n{describe(v)}" for label, v in self.failures.items())
        assert not self.failures, (
            f"serious/critical axe violations on {len(self.failures)} of "
            f"{len(self.checked)} pages:\n{report}"
        )
