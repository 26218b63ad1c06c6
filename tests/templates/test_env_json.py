"""events/env.json: a `sam local invoke --env-vars` section for every function of every use case.

SAM applies, from a function's section, only the variables that function declares, so one section
serves every app with that logical id (three have a `DiscoveryFunction`). Each section must cover
everything its functions declare, so a local invoke never runs on unresolved template values.
Against the sandbox, `python -m sandbox serve` writes the per-app equivalent with live values.
"""

from __future__ import annotations

import json
from pathlib import Path

from scripts.cfn_templates import REPO_ROOT, load_template

ENV_JSON = REPO_ROOT / "events" / "env.json"


def declared_variables() -> dict[str, set[str]]:
    """Function logical id → every variable name any use case's template gives it."""
    declared: dict[str, set[str]] = {}
    for path in sorted(REPO_ROOT.glob("*/template.yaml")):
        template = load_template(path)
        common = set(
            template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        )
        for name, resource in template["Resources"].items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            own = set(resource["Properties"].get("Environment", {}).get("Variables", {}))
            declared.setdefault(name, set()).update(common | own)
    return declared


def sections() -> dict[str, dict[str, str]]:
    loaded: dict[str, dict[str, str]] = json.loads(ENV_JSON.read_text(encoding="utf-8"))
    return loaded


def test_every_function_of_every_use_case_has_a_complete_section() -> None:
    env = sections()
    for function, variables in declared_variables().items():
        assert function in env, f"events/env.json has no {function} section"
        assert variables - env[function].keys() == set(), f"{function}: variables without a value"


def test_no_section_for_a_function_that_does_not_exist() -> None:
    assert set(sections()) - set(declared_variables()) == set()


def test_values_are_strings_and_nothing_local_to_one_machine() -> None:
    for function, variables in sections().items():
        for name, value in variables.items():
            assert isinstance(value, str), f"{function}.{name}"
            assert "127.0.0.1" not in value and "/tmp/" not in value, f"{function}.{name}={value}"


def test_it_is_not_mistaken_for_an_event(tmp_path: Path) -> None:
    # Event payloads live one level down (events/<use-case>/); local-test.sh never invokes this.
    assert ENV_JSON.parent.name == "events"
    assert not list(ENV_JSON.parent.glob("*/env.json"))
