"""axe-core, the accessibility checker, run on a page a browser test has open.

``make modeling-tools`` installs it with the other Node tools (tools/modeling/package.json).
"""

from __future__ import annotations

from hireflow.paths import PROJECT_ROOT

AXE_SCRIPT = PROJECT_ROOT / "tools" / "modeling" / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 at levels A and AA, and axe's best practices (one main heading, landmarks,
# named table columns).
RULE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def accessibility_violations(page) -> list[str]:
    """Every rule the open page breaks, a line each naming the rule and where; [] when none.

    The page's context must be opened with ``bypass_csp=True``: the webapp's
    Content-Security-Policy refuses the script tag that brings axe in, as it should.
    """
    if not AXE_SCRIPT.exists():
        raise FileNotFoundError(f"{AXE_SCRIPT} is missing: run `make modeling-tools`")
    page.add_script_tag(path=str(AXE_SCRIPT))
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
            return result.violations.map((v) =>
                `${v.impact} ${v.id}: ${v.help}, at ${v.nodes.map((n) => n.target.join(" ")).join("; ")}`);
        }""",
        RULE_TAGS,
    )
