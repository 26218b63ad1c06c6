"""Read a use case's SAM template the way CloudFormation would, without deploying it.

The sandbox builds its moto world from the very ``template.yaml`` that is deployed, so it needs
what CloudFormation does before creating anything: the short-form YAML tags, parameter values
(defaults, overrides, validation), conditions, and the resolution of intrinsic functions against
the physical names of resources. Only what the sandbox consumes is exposed: functions (handler,
code, settings, environment) and state machines (definition, ``DefinitionSubstitutions``).

Resolution is lazy and per value: a resource's properties that the sandbox does not use (IAM
policies, alarms …) are never resolved, so a reference to something that only exists on AWS
fails only where the sandbox would really need it, with an error that names the reference.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

ACCOUNT_ID: Final = "123456789012"
DEFAULT_REGION: Final = "ap-northeast-1"


class TemplateError(Exception):
    """The template (or what was asked of it) cannot be evaluated like CloudFormation would."""


class ParameterError(TemplateError):
    """A parameter has no value, an unknown name or a value its constraints reject."""


class UnresolvableReferenceError(TemplateError):
    """An intrinsic function names something that does not exist (or not in the sandbox)."""


# --- YAML with CloudFormation short-form tags -------------------------------------------------

_SHORT_TAGS: Final = (
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
    "ToJsonString",
    "Length",
)


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader + CloudFormation tags; dates stay strings as CloudFormation keeps them."""


# CloudFormation reads `2010-09-09` as a string; YAML 1.1 would make it a datetime.date.
_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _node_value(loader: _CfnLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise TemplateError(f"unsupported YAML node {node!r}")  # pragma: no cover - yaml has no other kind


def _long_form(name: str) -> Callable[[_CfnLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: _CfnLoader, node: yaml.Node) -> dict[str, Any]:
        return {name: _node_value(loader, node)}

    return construct


def _construct_get_att(loader: _CfnLoader, node: yaml.Node) -> dict[str, Any]:
    value = _node_value(loader, node)
    if isinstance(value, str):
        # `!GetAtt Res.Outputs.Name`: the logical id ends at the first dot.
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {"Fn::GetAtt": value}


_CfnLoader.add_constructor("!Ref", _long_form("Ref"))
_CfnLoader.add_constructor("!Condition", _long_form("Condition"))
_CfnLoader.add_constructor("!GetAtt", _construct_get_att)
for _tag in _SHORT_TAGS:
    _CfnLoader.add_constructor(f"!{_tag}", _long_form(f"Fn::{_tag}"))


def load_yaml(text: str) -> Any:
    """Parse CloudFormation YAML (or JSON); short-form tags become their long-form dicts."""
    return yaml.load(text, Loader=_CfnLoader)  # noqa: S506  # nosec B506 - a SafeLoader subclass


def load_template_file(path: Path) -> dict[str, Any]:
    """Read a template file into its long-form dict."""
    body = load_yaml(path.read_text(encoding="utf-8"))
    if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources mapping)")
    return body


# --- values the resolver needs --------------------------------------------------------------


@dataclass(frozen=True)
class PseudoParameters:
    """The ``AWS::*`` pseudo parameters; the account is moto's default account."""

    stack_name: str
    region: str = DEFAULT_REGION
    account_id: str = ACCOUNT_ID
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    @property
    def stack_id(self) -> str:
        stable = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.region}/{self.stack_name}")
        return (
            f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}"
            f":stack/{self.stack_name}/{stable}"
        )

    def values(self) -> dict[str, Any]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::NotificationARNs": [],
        }


@dataclass(frozen=True)
class PhysicalResource:
    """What ``Ref`` and ``Fn::GetAtt`` of one created (or skipped) resource return."""

    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    skipped_reason: str | None = None
    """Set when the sandbox did not create the resource (it only exists on AWS)."""


ResourceMap = Mapping[str, PhysicalResource]


class _NoValue:
    """``AWS::NoValue``: removes the property (or list item) it stands in."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()


def stringify(value: Any) -> str:
    """A scalar as CloudFormation turns it into a string (``true``, not Python's ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise TemplateError(f"expected a scalar, got {json.dumps(value, default=str)}")


def physical_suffix(*parts: str, length: int = 12) -> str:
    """A stable stand-in for CloudFormation's random name suffix, so runs are reproducible."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest().upper()
    return digest[:length]


# --- specs the sandbox consumes -------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """One resource of the template, as written (properties still unresolved)."""

    logical_id: str
    type: str
    properties: Mapping[str, Any]
    condition: str | None = None
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function as the sandbox runs it: the real handler with its resolved settings."""

    logical_id: str
    function_name: str
    function_arn: str
    handler: str
    code_dir: Path
    runtime: str
    timeout_s: int
    memory_mb: int
    environment: Mapping[str, str]
    layer_dirs: tuple[Path, ...]
    """ContentUri directories of the template's own layers (importable like /opt/python)."""


@dataclass(frozen=True)
class StateMachineSpec:
    """A state machine's definition file (or inline definition) and resolved substitutions."""

    logical_id: str
    definition_path: Path | None
    definition: Mapping[str, Any] | None
    substitutions: Mapping[str, str]
    type: str

    def render(self) -> str:
        """The definition with ``${Name}`` replaced, as CloudFormation sends it to Step Functions.

        A placeholder without a substitution, or a substitution no placeholder uses, is an error:
        on AWS the first deploys a broken state machine and the second hides a typo.
        """
        if self.definition_path is not None:
            source = str(self.definition_path)
            try:
                text = self.definition_path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise TemplateError(f"{self.logical_id}: DefinitionUri {source} does not exist") from None
        else:
            source, text = f"{self.logical_id}.Definition", json.dumps(self.definition, indent=2)
        placeholders = set(_PLACEHOLDER.findall(text))
        missing = sorted(placeholders - self.substitutions.keys())
        unused = sorted(self.substitutions.keys() - placeholders)
        if missing:
            raise UnresolvableReferenceError(
                f"{source}: no DefinitionSubstitutions for {', '.join('${' + m + '}' for m in missing)}"
            )
        if unused:
            raise TemplateError(
                f"{self.logical_id}: DefinitionSubstitutions not used by {source}: {', '.join(unused)}"
            )
        rendered = _PLACEHOLDER.sub(lambda match: self.substitutions[match.group(1)], text)
        try:
            json.loads(rendered)
        except json.JSONDecodeError as error:
            raise TemplateError(f"{source}: not valid JSON after substitution: {error}") from None
        return rendered


FUNCTION_TYPES: Final = ("AWS::Serverless::Function", "AWS::Lambda::Function")
STATE_MACHINE_TYPES: Final = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
LAYER_TYPES: Final = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
_GLOBALS_SECTIONS: Final = {
    "AWS::Serverless::Function": "Function",
    "AWS::Serverless::StateMachine": "StateMachine",
    "AWS::Serverless::SimpleTable": "SimpleTable",
    "AWS::Serverless::LayerVersion": "LayerVersion",
}
_SUB_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")
_PLACEHOLDER: Final = re.compile(r"\$\{([^}]+)\}")


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = str(next(iter(value)))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rules: maps merge, lists add up, scalars and intrinsics are replaced."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if _is_intrinsic(global_value) or _is_intrinsic(local_value):
            return local_value
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return [*global_value, *local_value]
    return local_value


# --- the template -----------------------------------------------------------------------------


class Template:
    """A loaded template with evaluated parameters and conditions, and a lazy resolver."""

    def __init__(
        self,
        body: Mapping[str, Any],
        *,
        base_dir: Path,
        pseudo: PseudoParameters,
        parameter_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.body = body
        self.base_dir = base_dir
        self.pseudo = pseudo
        self._mappings: Mapping[str, Any] = body.get("Mappings") or {}
        self.parameters = _evaluate_parameters(body.get("Parameters") or {}, parameter_overrides or {})
        self._condition_defs: Mapping[str, Any] = body.get("Conditions") or {}
        self._condition_values: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self.conditions = {name: self.condition(name) for name in self._condition_defs}
        self.resources = self._read_resources(body)

    @classmethod
    def from_file(
        cls,
        path: Path,
        *,
        stack_name: str | None = None,
        region: str = DEFAULT_REGION,
        parameter_overrides: Mapping[str, Any] | None = None,
    ) -> Template:
        """Load ``path``; the stack name defaults to the template's folder name."""
        path = path.resolve()
        return cls(
            load_template_file(path),
            base_dir=path.parent,
            pseudo=PseudoParameters(stack_name=stack_name or path.parent.name, region=region),
            parameter_overrides=parameter_overrides,
        )

    # -- resources under the evaluated conditions --

    def _read_resources(self, body: Mapping[str, Any]) -> dict[str, Resource]:
        globals_ = body.get("Globals") or {}
        resources: dict[str, Resource] = {}
        for logical_id, definition in body["Resources"].items():
            if not isinstance(definition, dict) or "Type" not in definition:
                raise TemplateError(f"resource {logical_id} has no Type")
            properties = definition.get("Properties") or {}
            section = _GLOBALS_SECTIONS.get(definition["Type"])
            if section and section in globals_:
                properties = merge_globals(globals_[section], properties)
            condition = definition.get("Condition")
            if condition is not None and condition not in self._condition_defs:
                raise TemplateError(f"resource {logical_id} uses undefined condition {condition}")
            depends_on = definition.get("DependsOn") or ()
            resources[logical_id] = Resource(
                logical_id=logical_id,
                type=definition["Type"],
                properties=properties,
                condition=condition,
                depends_on=(depends_on,) if isinstance(depends_on, str) else tuple(depends_on),
            )
        return resources

    def is_active(self, logical_id: str) -> bool:
        """Whether the resource is created under the evaluated conditions."""
        condition = self.resources[logical_id].condition
        return condition is None or self.condition(condition)

    @property
    def active_resources(self) -> dict[str, Resource]:
        return {lid: res for lid, res in self.resources.items() if self.is_active(lid)}

    @property
    def inactive_resources(self) -> dict[str, Resource]:
        return {lid: res for lid, res in self.resources.items() if not self.is_active(lid)}

    def of_type(self, *types: str) -> dict[str, Resource]:
        return {lid: res for lid, res in self.active_resources.items() if res.type in types}

    def references(self, value: Any) -> set[str]:
        """Logical ids of resources that ``value`` refers to (for creation order)."""
        found: set[str] = set()
        self._collect_references(value, found)
        return {name for name in found if name in self.resources}

    def _collect_references(self, value: Any, found: set[str]) -> None:
        if isinstance(value, list):
            for item in value:
                self._collect_references(item, found)
        elif isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref" and isinstance(arg, str):
                    found.add(arg.split(".")[0])  # SAM's `!Ref Function.Alias`
                elif key == "Fn::GetAtt" and isinstance(arg, list) and arg:
                    found.add(str(arg[0]))
                elif key == "Fn::Sub" and (isinstance(arg, str) or (isinstance(arg, list) and len(arg) == 2)):
                    text, variables = (arg, {}) if isinstance(arg, str) else (str(arg[0]), arg[1])
                    variables = variables if isinstance(variables, dict) else {}
                    for name in _SUB_VARIABLE.findall(text):
                        if not name.startswith("!") and name.split(".")[0] not in variables:
                            found.add(name.split(".")[0])
                    self._collect_references(variables, found)
                    return
            for item in value.values():
                self._collect_references(item, found)

    def creation_order(self) -> list[str]:
        """Active resources, each after the ones it refers to or depends on (CloudFormation order)."""
        active = self.active_resources
        deps = {
            lid: (self.references(res.properties) | set(res.depends_on)) & active.keys() - {lid}
            for lid, res in active.items()
        }
        order: list[str] = []
        done: set[str] = set()
        while len(order) < len(active):
            ready = [lid for lid in active if lid not in done and deps[lid] <= done]
            if not ready:
                cycle = sorted(lid for lid in active if lid not in done)
                raise TemplateError(f"circular dependency between resources: {', '.join(cycle)}")
            order += ready
            done.update(ready)
        return order

    # -- conditions --

    def condition(self, name: str) -> bool:
        if name in self._condition_values:
            return self._condition_values[name]
        if name not in self._condition_defs:
            raise UnresolvableReferenceError(f"condition {name} is not defined in Conditions")
        if name in self._evaluating:
            raise TemplateError(f"condition {name} depends on itself")
        self._evaluating.add(name)
        try:
            value = self.resolve(self._condition_defs[name], {}, where=f"Conditions.{name}")
        finally:
            self._evaluating.discard(name)
        if not isinstance(value, bool):
            raise TemplateError(f"condition {name} does not evaluate to true or false: {value!r}")
        self._condition_values[name] = value
        return value

    # -- intrinsic functions --

    def resolve(self, value: Any, resources: ResourceMap, *, where: str = "") -> Any:
        """Resolve every intrinsic function in ``value``; ``AWS::NoValue`` removes what it stands in."""
        resolved = self._resolve(value, resources, where)
        return None if resolved is NO_VALUE else resolved

    def resolve_string(self, value: Any, resources: ResourceMap, *, where: str = "") -> str:
        return stringify(self.resolve(value, resources, where=where))

    def _resolve(self, value: Any, resources: ResourceMap, where: str) -> Any:
        if isinstance(value, list):
            items = [self._resolve(item, resources, f"{where}[{i}]") for i, item in enumerate(value)]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            function = _INTRINSICS.get(key)
            if function is not None:
                return function(self, arg, resources, f"{where} {key}".strip())
        resolved = {key: self._resolve(item, resources, f"{where}.{key}") for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _ref(self, name: Any, resources: ResourceMap, where: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{where}: Ref takes a name, got {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        pseudo = self.pseudo.values()
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self._physical(name, resources, where).ref

    def _physical(self, name: str, resources: ResourceMap, where: str) -> PhysicalResource:
        if name in resources:
            return resources[name]
        if name in self.resources:
            condition = self.resources[name].condition
            if condition is not None and not self.condition(condition):
                raise UnresolvableReferenceError(
                    f"{where}: {name} is not created because condition {condition} is false"
                )
            raise UnresolvableReferenceError(f"{where}: resource {name} has no physical id yet")
        raise UnresolvableReferenceError(f"{where}: {name} is neither a parameter nor a resource")

    def _get_att(self, arg: Any, resources: ResourceMap, where: str) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not isinstance(arg, list) or len(arg) != 2:
            raise TemplateError(f"{where}: Fn::GetAtt takes [LogicalId, Attribute], got {arg!r}")
        name, attribute = str(arg[0]), self.resolve_string(arg[1], resources, where=where)
        physical = self._physical(name, resources, where)
        if attribute not in physical.attributes:
            hint = f" ({physical.skipped_reason})" if physical.skipped_reason else ""
            known = ", ".join(sorted(physical.attributes)) or "none"
            raise UnresolvableReferenceError(
                f"{where}: {name}.{attribute} is unknown{hint}; known attributes: {known}"
            )
        return physical.attributes[attribute]

    def _sub(self, arg: Any, resources: ResourceMap, where: str) -> str:
        if isinstance(arg, str):
            text, variables = arg, {}
        elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
            text, variables = arg[0], self.resolve(arg[1], resources, where=where)
        else:
            raise TemplateError(f"{where}: Fn::Sub takes a string or [string, variables], got {arg!r}")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return stringify(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return stringify(self._get_att([resource, attribute], resources, f"{where} ${{{name}}}"))
            value = self._ref(name, resources, f"{where} ${{{name}}}")
            if isinstance(value, list):
                raise TemplateError(f"{where}: ${{{name}}} is a list and cannot be substituted")
            return stringify(value)

        return _SUB_VARIABLE.sub(substitute, text)

    def _join(self, arg: Any, resources: ResourceMap, where: str) -> str:
        if not isinstance(arg, list) or len(arg) != 2:
            raise TemplateError(f"{where}: Fn::Join takes [delimiter, list], got {arg!r}")
        items = self.resolve(arg[1], resources, where=where)
        if not isinstance(items, list):
            raise TemplateError(f"{where}: Fn::Join needs a list, got {items!r}")
        return str(arg[0]).join(stringify(item) for item in items)

    def _if(self, arg: Any, resources: ResourceMap, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 3:
            raise TemplateError(f"{where}: Fn::If takes [condition, then, else], got {arg!r}")
        branch = arg[1] if self.condition(str(arg[0])) else arg[2]
        return self._resolve(branch, resources, where)

    def _bool_args(self, arg: Any, resources: ResourceMap, where: str, count: tuple[int, int]) -> list[bool]:
        if not isinstance(arg, list) or not count[0] <= len(arg) <= count[1]:
            raise TemplateError(f"{where}: expected {count[0]}..{count[1]} conditions, got {arg!r}")
        values = [self.resolve(item, resources, where=where) for item in arg]
        if not all(isinstance(value, bool) for value in values):
            raise TemplateError(f"{where}: operands must be conditions, got {values!r}")
        return values

    def _equals(self, arg: Any, resources: ResourceMap, where: str) -> bool:
        if not isinstance(arg, list) or len(arg) != 2:
            raise TemplateError(f"{where}: Fn::Equals takes two values, got {arg!r}")
        left, right = (self.resolve(item, resources, where=where) for item in arg)
        if isinstance(left, list) or isinstance(right, list):
            return bool(left == right)
        return stringify(left) == stringify(right)

    def _select(self, arg: Any, resources: ResourceMap, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            raise TemplateError(f"{where}: Fn::Select takes [index, list], got {arg!r}")
        index = int(self.resolve_string(arg[0], resources, where=where))
        items = self.resolve(arg[1], resources, where=where)
        if not isinstance(items, list) or not 0 <= index < len(items):
            raise TemplateError(f"{where}: index {index} is out of range of {items!r}")
        return items[index]

    def _split(self, arg: Any, resources: ResourceMap, where: str) -> list[str]:
        if not isinstance(arg, list) or len(arg) != 2:
            raise TemplateError(f"{where}: Fn::Split takes [delimiter, string], got {arg!r}")
        return self.resolve_string(arg[1], resources, where=where).split(str(arg[0]))

    def _find_in_map(self, arg: Any, resources: ResourceMap, where: str) -> Any:
        if not isinstance(arg, list) or len(arg) not in (3, 4):
            raise TemplateError(f"{where}: Fn::FindInMap takes [map, key, key], got {arg!r}")
        path = [self.resolve_string(item, resources, where=where) for item in arg[:3]]
        node: Any = self._mappings
        for key in path:
            if not isinstance(node, dict) or key not in node:
                if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                    return self._resolve(arg[3]["DefaultValue"], resources, where)
                raise UnresolvableReferenceError(f"{where}: Mappings has no {'.'.join(path)}")
            node = node[key]
        return node

    # -- functions and state machines --

    def functions(self, resources: ResourceMap) -> dict[str, FunctionSpec]:
        """Active functions with handler, code directory and resolved environment."""
        return {lid: self.function(lid, resources) for lid in self.of_type(*FUNCTION_TYPES)}

    def function(self, logical_id: str, resources: ResourceMap) -> FunctionSpec:
        res = self.resources[logical_id]
        props = res.properties
        where = f"{logical_id}.Properties"
        if res.type not in FUNCTION_TYPES:
            raise TemplateError(f"{logical_id} is a {res.type}, not a function")
        code_uri = self.resolve(props.get("CodeUri"), resources, where=f"{where}.CodeUri")
        handler = self.resolve(props.get("Handler"), resources, where=f"{where}.Handler")
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            raise TemplateError(f"{where}: the sandbox needs a local CodeUri and a Handler")
        variables = self.resolve(
            (props.get("Environment") or {}).get("Variables") or {},
            resources,
            where=f"{where}.Environment.Variables",
        )
        physical = self._physical(logical_id, resources, where)
        return FunctionSpec(
            logical_id=logical_id,
            function_name=physical.ref,
            function_arn=physical.attributes["Arn"],
            handler=handler,
            code_dir=(self.base_dir / code_uri).resolve(),
            runtime=str(self.resolve(props.get("Runtime", "python3.13"), resources, where=where)),
            timeout_s=int(self.resolve_string(props.get("Timeout", 3), resources, where=where)),
            memory_mb=int(self.resolve_string(props.get("MemorySize", 128), resources, where=where)),
            environment={str(key): stringify(value) for key, value in (variables or {}).items()},
            layer_dirs=self._layer_dirs(props.get("Layers") or [], resources, f"{where}.Layers"),
        )

    def _layer_dirs(self, layers: Any, resources: ResourceMap, where: str) -> tuple[Path, ...]:
        by_arn = {resources[lid].ref: lid for lid in self.of_type(*LAYER_TYPES) if lid in resources}
        dirs: list[Path] = []
        for arn in self.resolve(layers, resources, where=where) or []:
            lid = by_arn.get(arn)
            if lid is None:
                continue  # a published layer (e.g. Powertools): its packages come from the venv
            props = self.resources[lid].properties
            content = self.resolve(props.get("ContentUri"), resources, where=f"{lid}.Properties.ContentUri")
            if not isinstance(content, str):
                raise TemplateError(f"{lid}: the sandbox needs a local ContentUri")
            dirs.append((self.base_dir / content).resolve())
        return tuple(dirs)

    def state_machines(self, resources: ResourceMap) -> dict[str, StateMachineSpec]:
        return {lid: self.state_machine(lid, resources) for lid in self.of_type(*STATE_MACHINE_TYPES)}

    def state_machine(self, logical_id: str, resources: ResourceMap) -> StateMachineSpec:
        res = self.resources[logical_id]
        props = res.properties
        where = f"{logical_id}.Properties"
        if res.type not in STATE_MACHINE_TYPES:
            raise TemplateError(f"{logical_id} is a {res.type}, not a state machine")
        uri = props.get("DefinitionUri", props.get("DefinitionS3Location"))
        path: Path | None = None
        definition: Mapping[str, Any] | None = None
        if isinstance(uri, str):
            path = (self.base_dir / uri).resolve()
        elif "Definition" in props:
            definition = self.resolve(props["Definition"], resources, where=f"{where}.Definition")
        elif "DefinitionString" in props:
            definition = json.loads(
                self.resolve_string(props["DefinitionString"], resources, where=f"{where}.DefinitionString")
            )
        else:
            raise TemplateError(f"{where}: the sandbox needs DefinitionUri (a local file) or Definition")
        substitutions = self.resolve(
            props.get("DefinitionSubstitutions") or {}, resources, where=f"{where}.DefinitionSubstitutions"
        )
        return StateMachineSpec(
            logical_id=logical_id,
            definition_path=path,
            definition=definition,
            substitutions={str(key): stringify(value) for key, value in (substitutions or {}).items()},
            type=str(self.resolve(props.get("Type", "STANDARD"), resources, where=where)),
        )


def _not(self: Template, arg: Any, resources: ResourceMap, where: str) -> bool:
    return not self._bool_args(arg, resources, where, (1, 1))[0]


def _and(self: Template, arg: Any, resources: ResourceMap, where: str) -> bool:
    return all(self._bool_args(arg, resources, where, (2, 10)))


def _or(self: Template, arg: Any, resources: ResourceMap, where: str) -> bool:
    return any(self._bool_args(arg, resources, where, (2, 10)))


def _condition(self: Template, arg: Any, _resources: ResourceMap, _where: str) -> bool:
    return self.condition(str(arg))


def _base64(self: Template, arg: Any, resources: ResourceMap, where: str) -> str:
    return base64.b64encode(self.resolve_string(arg, resources, where=where).encode()).decode()


def _get_azs(self: Template, arg: Any, resources: ResourceMap, where: str) -> list[str]:
    region = self.resolve(arg, resources, where=where) or self.pseudo.region
    return [f"{region}{zone}" for zone in "acd"]


def _to_json_string(self: Template, arg: Any, resources: ResourceMap, where: str) -> str:
    return json.dumps(self.resolve(arg, resources, where=where), separators=(",", ":"))


def _length(self: Template, arg: Any, resources: ResourceMap, where: str) -> int:
    items = self.resolve(arg, resources, where=where)
    if not isinstance(items, list):
        raise TemplateError(f"{where}: Fn::Length needs a list, got {items!r}")
    return len(items)


_INTRINSICS: Final[dict[str, Callable[[Template, Any, ResourceMap, str], Any]]] = {
    "Ref": Template._ref,
    "Condition": _condition,
    "Fn::GetAtt": Template._get_att,
    "Fn::Sub": Template._sub,
    "Fn::Join": Template._join,
    "Fn::If": Template._if,
    "Fn::Equals": Template._equals,
    "Fn::Not": _not,
    "Fn::And": _and,
    "Fn::Or": _or,
    "Fn::Select": Template._select,
    "Fn::Split": Template._split,
    "Fn::FindInMap": Template._find_in_map,
    "Fn::Base64": _base64,
    "Fn::GetAZs": _get_azs,
    "Fn::ToJsonString": _to_json_string,
    "Fn::Length": _length,
}


def _offline_unsupported(self: Template, arg: Any, _resources: ResourceMap, where: str) -> Any:
    # Cross-stack exports and macros only exist in a deployed account.
    raise UnresolvableReferenceError(f"{where} {arg!r} cannot be resolved offline")


for _name in ("Fn::ImportValue", "Fn::Cidr", "Fn::Transform"):
    _INTRINSICS[_name] = _offline_unsupported


# --- parameters -----------------------------------------------------------------------------

_LIST_TYPES: Final = ("CommaDelimitedList", "List<Number>")


def _evaluate_parameters(
    declarations: Mapping[str, Any], overrides: Mapping[str, Any]
) -> dict[str, str | list[str]]:
    unknown = sorted(set(overrides) - set(declarations))
    if unknown:
        raise ParameterError(f"no such parameter(s): {', '.join(unknown)}")
    values: dict[str, str | list[str]] = {}
    for name, declaration in declarations.items():
        if name in overrides:
            raw = overrides[name]
        elif "Default" in declaration:
            raw = declaration["Default"]
        else:
            raise ParameterError(f"parameter {name} has no Default and no override")
        values[name] = _check_parameter(name, declaration, raw)
    return values


def _check_parameter(name: str, declaration: Mapping[str, Any], raw: Any) -> str | list[str]:
    kind = str(declaration.get("Type", "String"))
    if kind in _LIST_TYPES or kind.startswith("List<"):
        items = raw if isinstance(raw, list) else [s.strip() for s in stringify(raw).split(",")]
        items = [stringify(item) for item in items if stringify(item) != ""]
        for item in items:
            _check_scalar(name, declaration, item, number=kind == "List<Number>")
        return items
    value = stringify(raw)
    _check_scalar(name, declaration, value, number=kind == "Number")
    return value


def _check_scalar(name: str, declaration: Mapping[str, Any], value: str, *, number: bool) -> None:
    allowed = declaration.get("AllowedValues")
    if allowed is not None and value not in [stringify(item) for item in allowed]:
        raise ParameterError(f"parameter {name}={value!r} is not one of {allowed}")
    pattern = declaration.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        raise ParameterError(f"parameter {name}={value!r} does not match {pattern}")
    if "MinLength" in declaration and len(value) < int(declaration["MinLength"]):
        raise ParameterError(f"parameter {name} is shorter than {declaration['MinLength']}")
    if "MaxLength" in declaration and len(value) > int(declaration["MaxLength"]):
        raise ParameterError(f"parameter {name} is longer than {declaration['MaxLength']}")
    if number:
        try:
            numeric = float(value)
        except ValueError:
            raise ParameterError(f"parameter {name}={value!r} is not a number") from None
        if "MinValue" in declaration and numeric < float(declaration["MinValue"]):
            raise ParameterError(f"parameter {name}={value} is below {declaration['MinValue']}")
        if "MaxValue" in declaration and numeric > float(declaration["MaxValue"]):
            raise ParameterError(f"parameter {name}={value} is above {declaration['MaxValue']}")
