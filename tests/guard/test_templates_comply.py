"""Every template of the repo passes every rule file after the SAM transform (stage 3, in pytest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.cfn_templates import REPO_ROOT, template_paths
from scripts.guard import check, rule_files

RULE_FILES = rule_files()


def test_the_five_rule_files_exist() -> None:
    assert {path.name for path in RULE_FILES} >= {
        "iam-least-privilege.guard",
        "encryption-required.guard",
        "lambda-limits.guard",
        "no-public-access.guard",
        "sagemaker-security.guard",
    }


@pytest.mark.parametrize("template", template_paths(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_template_passes_every_rule_file(template: Path, tmp_path: Path) -> None:
    # When the transformed template is checked (and written, as CI hands it to the cfn-guard CLI)
    failures = check([template], RULE_FILES, write_dir=tmp_path)
    # Then no rule fails, and the file the CLI validates exists
    assert failures == []
    assert len(list(tmp_path.glob("*.json"))) == 1
