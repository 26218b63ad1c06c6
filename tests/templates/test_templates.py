"""Every template transforms as SAM would, and every function's handler exists where Lambda looks."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.cfn_templates import REPO_ROOT, load_template, template_paths, transformed

USE_CASE_TEMPLATES = sorted(REPO_ROOT.glob("*/template.yaml"))


@pytest.mark.parametrize("path", template_paths(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_template_transforms(path: Path) -> None:
    resources = transformed(path)["Resources"]
    assert resources
    assert not [name for name, res in resources.items() if res["Type"].startswith("AWS::Serverless::")]


@pytest.mark.parametrize("path", USE_CASE_TEMPLATES, ids=lambda p: p.parent.name)
def test_functions_use_the_layer_and_a_handler_that_exists(path: Path) -> None:
    template = load_template(path)
    resources = template["Resources"]
    layer = resources["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["ContentUri"] == "../shared"
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "SharedLayer"}]
    functions = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions
    for name, properties in functions.items():
        code_dir = path.parent / properties["CodeUri"]
        module, _, attribute = properties["Handler"].rpartition(".")
        module_file = code_dir / (module.replace(".", "/") + ".py")
        assert module_file.exists(), f"{name}: {module_file} missing"
        assert f"def {attribute}(" in module_file.read_text(encoding="utf-8"), f"{name}: no {attribute}()"
        # sam build needs python3.13 to install a function's own requirements; dependencies go in the layer.
        assert not list(code_dir.rglob("requirements.txt")), f"{name}: requirements.txt in CodeUri"


@pytest.mark.parametrize("path", USE_CASE_TEMPLATES, ids=lambda p: p.parent.name)
def test_parameters_are_constrained(path: Path) -> None:
    for name, parameter in load_template(path).get("Parameters", {}).items():
        constrained = {"AllowedValues", "AllowedPattern", "MinValue", "MaxValue"} & parameter.keys()
        assert constrained, f"{name}: no AllowedValues/AllowedPattern/MinValue/MaxValue"
        assert parameter.get("Description") or "AllowedValues" in parameter, f"{name}: no Description"
