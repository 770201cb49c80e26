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

_RUN = """async (rules) => {
  const options = {resultTypes: ['violations']};
  if (rules) options.runOnly = {type: 'rule', values: rules};
  const result = await axe.run(document, options);
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 4).map(n => n.target.join(' ')),
  }));
}"""


# After a change of colour scheme: let styles recalculate, then let transitions finish.
_SETTLE = """async () => {
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  await Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)));
}"""


# What a colour scheme can change: the dark scheme is checked for these only.
COLOUR_RULES = ["color-contrast", "link-in-text-block"]


def axe_violations(page, rules: list[str] | None = None) -> list[dict]:
    """Every axe violation on the page as it is now, of any impact (``rules``: only those)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    assert page.evaluate("typeof window.axe !== 'undefined'"), (
        "axe did not load: open audited pages with new_page(bypass_csp=True)"
    )
    return page.evaluate(_RUN, rules)


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
    # Moderate and minor findings: printed, not failed on.
    minor: dict[str, set[str]] = field(default_factory=dict)

    def __call__(self, page, label: str) -> None:
        """Check the page as it is now: every rule in the light colour scheme, and the
        colour rules again in the dark one."""
        page.wait_for_load_state("load")
        self.checked.append(label)
        for scheme, rules in (("light", None), ("dark", COLOUR_RULES)):
            page.emulate_media(color_scheme=scheme)
            page.evaluate(_SETTLE)  # links fade their colours: measure the final ones
            self._record(axe_violations(page, rules), f"{label}, {scheme}", page.url)
        page.emulate_media(color_scheme="light")

    def _record(self, found: list[dict], label: str, url: str) -> None:
        blocking = [v for v in found if v["impact"] in BLOCKING]
        if blocking:
            self.failures[f"{label} ({url})"] = blocking
        for v in found:
            if v["impact"] not in BLOCKING:
                self.minor.setdefault(f"{v['id']} ({v['impact']})", set()).add(label)

    def assert_clean(self) -> None:
        print(
            f"axe-core: {len(self.checked)} pages checked, light and dark: "
            + "; ".join(self.checked)
        )
        for rule, labels in sorted(self.minor.items()):
            print(f"  not failed on: {rule} on " + "; ".join(sorted(labels)))
        report = "\n".join(f"  {label}:\n{describe(v)}" for label, v in self.failures.items())
        assert not self.failures, (
            f"serious/critical axe violations in {len(self.failures)} checks of "
            f"{len(self.checked)} pages:\n{report}"
        )
