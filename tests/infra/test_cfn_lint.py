"""cfn-lint passes on template.yaml: no errors and no warnings (informational is ignored),
which is what a zero exit code of `cfn-lint template.yaml` means."""

from __future__ import annotations

from pathlib import Path

from cfnlint.api import lint_file

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def test_cfn_lint_passes():
    matches = [m for m in lint_file(TEMPLATE) if m.rule.severity.lower() in ("error", "warning")]
    assert not matches, "\n".join(
        f"{m.rule.id} {m.rule.severity} line {m.linenumber}: {m.message}" for m in matches
    )
