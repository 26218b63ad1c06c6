"""pip-audit over what ships (the layer's pinned requirements) and the dev environment.

pip-audit needs a vulnerability service. Where the service does not answer, or answers for no
package at all (a registry mirror without PyPI's JSON API), the audit cannot say anything: this
prints ``skipped: unreachable`` and succeeds, rather than reporting a clean result it did not get.
GitHub Actions reaches the service, so the audit really runs there.
"""

from __future__ import annotations

import json
import subprocess  # nosec B404
import sys
from typing import Any

from scripts.cfn_templates import REPO_ROOT

AUDITS = {
    "layer": ["-r", str(REPO_ROOT / "shared" / "requirements.txt"), "--no-deps", "--disable-pip"],
    "dev environment": ["-l"],
}


def classify(report: dict[str, Any]) -> tuple[str, list[str]]:
    """``("unreachable" | "vulnerable" | "clean", findings)`` from pip-audit's JSON report."""
    dependencies = report.get("dependencies", [])
    audited = [dep for dep in dependencies if "skip_reason" not in dep]
    if not audited:
        return "unreachable", []
    findings = [
        f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in: {', '.join(vuln.get('fix_versions', []))})"
        for dep in audited
        for vuln in dep.get("vulns", [])
    ]
    return ("vulnerable" if findings else "clean"), findings


def audit(arguments: list[str]) -> tuple[str, list[str]]:
    command = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off", *arguments]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)  # nosec B603
    except subprocess.TimeoutExpired:
        return "unreachable", []
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        # No report at all: pip-audit could not talk to its service (it says why on stderr).
        return "unreachable", []
    return classify(report)


def main() -> int:
    failed = False
    for name, arguments in AUDITS.items():
        verdict, findings = audit(arguments)
        if verdict == "unreachable":
            print(f"pip-audit {name}: skipped: unreachable (the vulnerability service did not answer)")
        else:
            print(f"pip-audit {name}: {verdict}")
        for line in findings:
            print(f"  {line}")
        failed = failed or verdict == "vulnerable"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
