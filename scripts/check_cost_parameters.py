"""Deploy-time check of the cost stacks' parameters that CloudFormation cannot check itself.

CloudFormation ``Rules`` compare strings only, so these cross-parameter orderings are enforced here,
before ``sam deploy``, with the same functions the code uses (``shared.cost_validation``):

* billing-alarm.yaml: WarningThreshold < CriticalThreshold < EmergencyThreshold;
* scheduled-scaling.yaml: BusinessHoursStart < BusinessHoursEnd, capacities non-negative with
  min <= max, OffHoursMaxCapacity <= BusinessMinCapacity, and a minimum of 0 only for an
  inference component (the stack's custom resource checks the schedule again during the deploy).

Each template given (default: every use case's template.yaml, plus the two stacks themselves) is
searched for nested stacks of those files (``AWS::Serverless::Application`` ``Location`` or
``AWS::CloudFormation::Stack`` ``TemplateURL``). A value passed to the nested stack is taken as
written, or, for ``!Ref Param`` of the parent, from ``--parameter-overrides``, then the
samconfig's ``parameter_overrides`` of ``--config-env``, then the parent's default. A value known
only at deploy time (``!GetAtt`` of another stack) is left out; for the schedule's target, the
``TargetKind`` stands in for it. Nested stacks are checked whatever their Condition: a disabled
feature must still be valid to turn on.

    python -m scripts.check_cost_parameters [TEMPLATE ...] [--config-file samconfig.toml
        --config-env production] [--parameter-overrides WarningThreshold=300 ...]

Exit status 0 when every check passes, 1 when one fails (each failure names template, nested
stack and parameter), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.cfn_templates import REPO_ROOT, TemplateError, load_template
from shared.cost_validation import (
    COMPONENT_DIMENSION,
    VARIANT_DIMENSION,
    validate_billing_thresholds,
    validate_scheduled_scaling,
)
from shared.errors import InvalidInputError

BILLING_STACK = "billing-alarm.yaml"
SCHEDULE_STACK = "scheduled-scaling.yaml"
_BILLING_KEYS = ("WarningThreshold", "CriticalThreshold", "EmergencyThreshold")
_SCHEDULE_KEYS = (
    "ScalableTargetId",
    "TargetKind",
    "Timezone",
    "BusinessDays",
    "BusinessHoursStart",
    "BusinessHoursEnd",
    "BusinessMinCapacity",
    "BusinessMaxCapacity",
    "OffHoursMinCapacity",
    "OffHoursMaxCapacity",
)
_PLACEHOLDER_TARGETS = {
    "variant": f"endpoint/deploy-time/variant/AllTraffic|{VARIANT_DIMENSION}|sagemaker",
    "inference-component": f"inference-component/deploy-time|{COMPONENT_DIMENSION}|sagemaker",
}
_UNKNOWN = object()


@dataclass(frozen=True)
class Problem:
    template: str
    stack: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.template}: {self.stack}: {self.message}"


def _location(resource: Mapping[str, Any]) -> str:
    properties = resource.get("Properties") or {}
    location = properties.get("Location") or properties.get("TemplateURL")
    return location if isinstance(location, str) else ""


def _defaults(template: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: parameter["Default"]
        for name, parameter in (template.get("Parameters") or {}).items()
        if isinstance(parameter, Mapping) and "Default" in parameter
    }


def _resolve(value: Any, parent: Mapping[str, Any], overrides: Mapping[str, str]) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, Mapping) and set(value) == {"Ref"} and isinstance(value["Ref"], str):
        name = value["Ref"]
        if name in overrides:
            return overrides[name]
        if name in parent:
            return parent[name]
    return _UNKNOWN


def _values(
    keys: Sequence[str], passed: Mapping[str, Any], parent: Mapping[str, Any], overrides: Mapping[str, str]
) -> dict[str, Any]:
    values = {}
    for key in keys:
        if key in passed:
            resolved = _resolve(passed[key], parent, overrides)
            if resolved is not _UNKNOWN:
                values[key] = resolved
    return values


def _check_billing(values: Mapping[str, Any]) -> None:
    validate_billing_thresholds(values)


def _check_schedule(values: Mapping[str, Any]) -> None:
    settled = dict(values)
    if "ScalableTargetId" not in settled:
        settled["ScalableTargetId"] = _PLACEHOLDER_TARGETS.get(str(settled.get("TargetKind", "variant")), "")
    validate_scheduled_scaling(settled)


_CHECKS: dict[str, tuple[Sequence[str], Callable[[Mapping[str, Any]], None]]] = {
    BILLING_STACK: (_BILLING_KEYS, _check_billing),
    SCHEDULE_STACK: (_SCHEDULE_KEYS, _check_schedule),
}


def _stack_defaults(name: str) -> dict[str, Any]:
    return _defaults(load_template(REPO_ROOT / "shared" / "cfn" / name))


def check_template(path: Path, overrides: Mapping[str, str] | None = None) -> list[Problem]:
    """Every billing and schedule check of one template (a use case, or one of the two stacks)."""
    overrides = dict(overrides or {})
    template = load_template(path)
    shown = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
    parent = _defaults(template)
    found: list[tuple[str, str, dict[str, Any]]] = []
    if path.name in _CHECKS:
        # The stack deployed on its own: its defaults, then the overrides.
        keys = _CHECKS[path.name][0]
        found.append(
            (path.name, "(standalone)", {k: overrides.get(k, parent[k]) for k in keys if k in parent})
        )
    for logical_id, resource in (template.get("Resources") or {}).items():
        name = Path(_location(resource)).name
        if name in _CHECKS:
            keys = _CHECKS[name][0]
            passed = (resource.get("Properties") or {}).get("Parameters") or {}
            values = {**_stack_defaults(name), **_values(keys, passed, parent, overrides)}
            if "ScalableTargetId" in values and "ScalableTargetId" not in _values(
                keys, passed, parent, overrides
            ):
                del values["ScalableTargetId"]  # known only at deploy time
            found.append((name, logical_id, {k: v for k, v in values.items() if k in keys}))
    problems = []
    for name, stack, values in found:
        try:
            _CHECKS[name][1](values)
        except InvalidInputError as error:
            problems.append(Problem(shown, stack, error.field, error.message))
    return problems


def overrides_from_samconfig(path: Path, env: str) -> dict[str, str]:
    """``parameter_overrides`` of ``[ENV.deploy.parameters]`` (a string or a list of KEY=VALUE)."""
    with path.open("rb") as handle:
        config = tomllib.load(handle)
    raw = config.get(env, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
    items = shlex.split(raw) if isinstance(raw, str) else [str(item) for item in raw]
    return parse_overrides(items)


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    overrides = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        overrides[key.removeprefix("ParameterKey")] = value
    return overrides


def default_templates(root: Path = REPO_ROOT) -> list[Path]:
    uses = sorted(path for path in root.glob("*/template.yaml") if ".aws-sam" not in path.parts)
    return [*uses, root / "shared" / "cfn" / BILLING_STACK, root / "shared" / "cfn" / SCHEDULE_STACK]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.check_cost_parameters",
        description="Check billing thresholds and scheduled-scaling parameters before deploy.",
    )
    parser.add_argument(
        "templates", nargs="*", type=Path, help="templates (default: every use case and both stacks)"
    )
    parser.add_argument("--config-file", type=Path, help="samconfig TOML whose parameter_overrides apply")
    parser.add_argument("--config-env", help="environment section of --config-file (staging, production …)")
    parser.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if bool(args.config_file) != bool(args.config_env):
        parser.error("--config-file and --config-env go together")
    try:
        overrides = overrides_from_samconfig(args.config_file, args.config_env) if args.config_file else {}
        overrides |= parse_overrides(args.parameter_overrides)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as error:
        parser.error(str(error))
    problems: list[Problem] = []
    templates = [path.resolve() for path in args.templates] or default_templates()
    for path in templates:
        try:
            problems += check_template(path, overrides)
        except (OSError, TemplateError) as error:
            problems.append(Problem(str(path), "-", "template", str(error)))
    for problem in problems:
        print(f"cost parameters: {problem}", file=sys.stderr)
    print(f"cost parameters: {len(templates)} template(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
