"""Auto-stop of idle SageMaker endpoints: the decision, as a pure function.

``decide(snapshot, settings, now)`` looks at what the adapter read about one endpoint
(:class:`EndpointSnapshot`: status, tags, variants with their instance counts, inference
components, scalable targets, invocations over the idle window) and returns a :class:`Decision`:
skip (with the reason) or act, with the exact API steps to run and the instance-hours it saves.
The Lambda handler (``shared/functions/auto_stop/handler.py``) only reads, calls this, and runs
the steps; nothing here does I/O or reads the clock.

Rules, in order:

1. an endpoint tagged ``DoNotAutoStop=true`` (value case-insensitive) is never acted on;
2. only an ``InService`` endpoint is considered;
3. an endpoint in service for less than the idle window is never idle (its metrics cannot cover
   the window); for an older one, *no datapoint* means zero invocations (SageMaker publishes no
   ``Invocations`` datapoint for a minute without requests);
4. any invocation, on any variant or component, in the window means active;
5. the action is the configured one, except that ``delete`` is allowed only in a non-production
   environment (:data:`NON_PRODUCTION_ENVIRONMENTS`; any other ``ENVIRONMENT`` value, production
   or unknown, counts as production) and otherwise becomes ``scale_to_minimum``.

Actions:

* ``scale_to_minimum`` — every variant to the minimum it supports: 1 instance for a standard
  variant; for inference components, 0 copies when the variant's managed instance scaling allows
  ``MinInstanceCount`` 0 (the endpoint then releases its instances), else 1 copy. A registered
  scalable target gets the same minimum first, so that no scaling activity restores the old floor.
  Scheduled scaling stays active: the next business-hours start scales the endpoint up again.
* ``disable_scheduling`` — suspend the scheduled actions of the endpoint's scalable targets
  (``SuspendedState.ScheduledScalingSuspended``) and hold the off-hours level: the lowest
  ``MinCapacity`` among the target's scheduled actions, never below the supported minimum. The
  endpoint stays there until an operator resumes scheduled scaling.
* ``delete`` — deregister the scalable targets, delete the inference components, delete the
  endpoint (its configuration and models stay; they cost nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from shared.cost_validation import COMPONENT_DIMENSION, VARIANT_DIMENSION
from shared.errors import InvalidInputError
from shared.pricing import instance_hourly_usd

__all__ = [
    "DESTRUCTIVE_STEPS",
    "IDLE_WINDOW_MINUTES_RANGE",
    "NON_PRODUCTION_ENVIRONMENTS",
    "PROTECTION_TAG",
    "AutoStopAction",
    "AutoStopSettings",
    "ComponentState",
    "Decision",
    "EndpointSnapshot",
    "ScalableTargetState",
    "SkipReason",
    "Step",
    "StepKind",
    "VariantState",
    "component_target_id",
    "decide",
    "is_protected",
    "summarize",
    "variant_target_id",
]

PROTECTION_TAG: Final = "DoNotAutoStop"
IDLE_WINDOW_MINUTES_RANGE: Final = (5, 1440)
"""Inclusive bounds of IDLE_WINDOW_MINUTES (the template's IdleWindowMinutes)."""

NON_PRODUCTION_ENVIRONMENTS: Final = frozenset({"dev", "development", "test", "sandbox", "staging"})
"""The only ENVIRONMENT values in which ``delete`` may run."""

_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no", ""})


class AutoStopAction(StrEnum):
    SCALE_TO_MINIMUM = "scale_to_minimum"
    DISABLE_SCHEDULING = "disable_scheduling"
    DELETE = "delete"


class SkipReason(StrEnum):
    PROTECTED = "protected"
    NOT_IN_SERVICE = "not_in_service"
    YOUNGER_THAN_WINDOW = "younger_than_window"
    INVOKED = "invoked"
    NO_INSTANCES = "no_instances"
    ALREADY_AT_MINIMUM = "already_at_minimum"


class StepKind(StrEnum):
    """One API call; the adapter maps each kind to exactly one client method."""

    REGISTER_TARGET = "register_target"  # application-autoscaling:RegisterScalableTarget
    UPDATE_ENDPOINT_CAPACITIES = "update_endpoint_capacities"  # sagemaker:UpdateEndpointWeightsAndCapacities
    UPDATE_COMPONENT_COPIES = "update_component_copies"  # sagemaker:UpdateInferenceComponentRuntimeConfig
    DEREGISTER_TARGET = "deregister_target"  # application-autoscaling:DeregisterScalableTarget
    DELETE_COMPONENT = "delete_component"  # sagemaker:DeleteInferenceComponent
    DELETE_ENDPOINT = "delete_endpoint"  # sagemaker:DeleteEndpoint


DESTRUCTIVE_STEPS: Final = frozenset(
    {StepKind.DEREGISTER_TARGET, StepKind.DELETE_COMPONENT, StepKind.DELETE_ENDPOINT}
)


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidInputError(name, f"expected true or false, got {value!r}")


@dataclass(frozen=True)
class AutoStopSettings:
    """The function's configuration, one object read once per invocation."""

    endpoint_prefix: str
    environment: str
    action: AutoStopAction = AutoStopAction.SCALE_TO_MINIMUM
    idle_window_minutes: int = 60
    dry_run: bool = False

    def __post_init__(self) -> None:
        if not self.endpoint_prefix:
            raise InvalidInputError(
                "ENDPOINT_NAME_PREFIX", "must not be empty (it scopes the endpoints acted on)"
            )
        low, high = IDLE_WINDOW_MINUTES_RANGE
        if not low <= self.idle_window_minutes <= high:
            raise InvalidInputError(
                "IDLE_WINDOW_MINUTES", f"must be between {low} and {high}, got {self.idle_window_minutes}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AutoStopSettings:
        for required in ("ENDPOINT_NAME_PREFIX", "ENVIRONMENT"):
            if not environ.get(required, "").strip():
                raise InvalidInputError(required, "is required")
        raw_action = environ.get("AUTO_STOP_ACTION", AutoStopAction.SCALE_TO_MINIMUM).strip()
        try:
            action = AutoStopAction(raw_action)
        except ValueError as error:
            choices = ", ".join(a.value for a in AutoStopAction)
            raise InvalidInputError(
                "AUTO_STOP_ACTION", f"must be one of {choices}, got {raw_action!r}"
            ) from error
        window = environ.get("IDLE_WINDOW_MINUTES", "60").strip()
        if not window.isdigit():
            raise InvalidInputError("IDLE_WINDOW_MINUTES", f"expected whole minutes, got {window!r}")
        return cls(
            endpoint_prefix=environ["ENDPOINT_NAME_PREFIX"].strip(),
            environment=environ["ENVIRONMENT"].strip(),
            action=action,
            idle_window_minutes=int(window),
            dry_run=_flag("DRY_RUN", environ.get("DRY_RUN", "false")),
        )

    @property
    def idle_window(self) -> timedelta:
        return timedelta(minutes=self.idle_window_minutes)

    @property
    def deletes_allowed(self) -> bool:
        return self.environment.strip().lower() in NON_PRODUCTION_ENVIRONMENTS

    @property
    def effective_action(self) -> AutoStopAction:
        """The configured action, with ``delete`` replaced outside non-production environments."""
        if self.action is AutoStopAction.DELETE and not self.deletes_allowed:
            return AutoStopAction.SCALE_TO_MINIMUM
        return self.action

    def matches(self, endpoint_name: str) -> bool:
        """Whether an endpoint belongs to this project (names are case-insensitive in SageMaker)."""
        return endpoint_name.lower().startswith(self.endpoint_prefix.lower())


@dataclass(frozen=True)
class ScalableTargetState:
    resource_id: str
    dimension: str
    min_capacity: int
    max_capacity: int
    scheduled_suspended: bool = False
    scheduled_min_capacities: tuple[int, ...] = ()
    """MinCapacity of each scheduled action on the target (empty: no schedule)."""

    def api_keys(self) -> dict[str, str]:
        return {
            "ServiceNamespace": "sagemaker",
            "ResourceId": self.resource_id,
            "ScalableDimension": self.dimension,
        }


@dataclass(frozen=True)
class VariantState:
    name: str
    current_instances: int
    instance_type: str | None = None
    serverless: bool = False
    managed_min_instances: int | None = None
    """ManagedInstanceScaling.MinInstanceCount when managed instance scaling is enabled."""
    target: ScalableTargetState | None = None


@dataclass(frozen=True)
class ComponentState:
    name: str
    variant_name: str
    copies: int
    target: ScalableTargetState | None = None


@dataclass(frozen=True)
class EndpointSnapshot:
    """Everything the decision needs about one endpoint, as read at one time."""

    name: str
    status: str
    in_service_since: datetime
    """LastModifiedTime: when the endpoint last became InService (creation or update)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    variants: tuple[VariantState, ...] = ()
    components: tuple[ComponentState, ...] = ()
    invocations: float | None = None
    """Sum of Invocations over the idle window, every variant and component; None: no datapoint."""


@dataclass(frozen=True)
class Step:
    kind: StepKind
    params: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "params": dict(self.params)}


@dataclass(frozen=True)
class Decision:
    endpoint_name: str
    acts: bool
    reason: str
    action: AutoStopAction | None = None
    steps: tuple[Step, ...] = ()
    instances_released: int = 0
    savings_per_hour: float = 0.0
    unpriced_instance_types: tuple[str, ...] = ()
    action_downgraded: bool = False
    """The configured ``delete`` was replaced because the environment is production."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint_name": self.endpoint_name,
            "acts": self.acts,
            "reason": self.reason,
            "action": self.action.value if self.action else None,
            "steps": [step.to_dict() for step in self.steps],
            "instances_released": self.instances_released,
            "savings_per_hour": round(self.savings_per_hour, 6),
            "unpriced_instance_types": list(self.unpriced_instance_types),
            "action_downgraded": self.action_downgraded,
        }


def is_protected(tags: Mapping[str, str]) -> bool:
    """``DoNotAutoStop=true`` (the value compared without case or surrounding blanks)."""
    value = tags.get(PROTECTION_TAG)
    return isinstance(value, str) and value.strip().lower() == "true"


def _skip(snapshot: EndpointSnapshot, reason: SkipReason) -> Decision:
    return Decision(snapshot.name, acts=False, reason=reason.value)


def _hold_level(target: ScalableTargetState | None, floor: int, action: AutoStopAction) -> int:
    """The capacity to hold: the floor, or under disable_scheduling the off-hours minimum."""
    if action is AutoStopAction.DISABLE_SCHEDULING and target and target.scheduled_min_capacities:
        return max(floor, min(target.scheduled_min_capacities))
    return floor


def _target_step(target: ScalableTargetState | None, level: int, action: AutoStopAction) -> list[Step]:
    if target is None:
        return []
    suspend = action is AutoStopAction.DISABLE_SCHEDULING and not target.scheduled_suspended
    if target.min_capacity <= level and not suspend:
        return []
    params: dict[str, Any] = {**target.api_keys(), "MinCapacity": min(level, target.min_capacity)}
    if suspend:
        params["SuspendedState"] = {"ScheduledScalingSuspended": True}
    return [Step(StepKind.REGISTER_TARGET, params)]


@dataclass
class _Plan:
    steps: list[Step] = field(default_factory=list)
    capacities: list[dict[str, Any]] = field(default_factory=list)
    released: dict[str, int] = field(default_factory=dict)  # instance type (or "") -> instances


def _plan_variant(
    snapshot: EndpointSnapshot, variant: VariantState, action: AutoStopAction, plan: _Plan
) -> None:
    components = [c for c in snapshot.components if c.variant_name == variant.name]
    if components:
        floor_instances = variant.managed_min_instances if variant.managed_min_instances is not None else 1
        floor_copies = 0 if floor_instances == 0 else 1
        levels = []
        for component in components:
            level = _hold_level(component.target, floor_copies, action)
            levels.append(level)
            plan.steps += _target_step(component.target, level, action)
            if component.copies > level:
                plan.steps.append(
                    Step(
                        StepKind.UPDATE_COMPONENT_COPIES,
                        {"InferenceComponentName": component.name, "CopyCount": level},
                    )
                )
        instances_after = floor_instances if max(levels) == 0 else max(floor_instances, 1)
        if variant.managed_min_instances is None and variant.current_instances > instances_after:
            plan.capacities.append({"VariantName": variant.name, "DesiredInstanceCount": instances_after})
    else:
        instances_after = _hold_level(variant.target, 1, action)
        plan.steps += _target_step(variant.target, instances_after, action)
        if variant.current_instances > instances_after:
            plan.capacities.append({"VariantName": variant.name, "DesiredInstanceCount": instances_after})
    released = max(0, variant.current_instances - instances_after)
    if released:
        kind = variant.instance_type or ""
        plan.released[kind] = plan.released.get(kind, 0) + released


def _plan_delete(snapshot: EndpointSnapshot, plan: _Plan) -> None:
    targets = [v.target for v in snapshot.variants] + [c.target for c in snapshot.components]
    plan.steps += [Step(StepKind.DEREGISTER_TARGET, t.api_keys()) for t in targets if t is not None]
    plan.steps += [
        Step(StepKind.DELETE_COMPONENT, {"InferenceComponentName": c.name}) for c in snapshot.components
    ]
    plan.steps.append(Step(StepKind.DELETE_ENDPOINT, {"EndpointName": snapshot.name}))
    for variant in snapshot.variants:
        if variant.current_instances and not variant.serverless:
            kind = variant.instance_type or ""
            plan.released[kind] = plan.released.get(kind, 0) + variant.current_instances


def _skip_reason(snapshot: EndpointSnapshot, settings: AutoStopSettings, now: datetime) -> SkipReason | None:
    """Rules 1-4 of the module docstring, and whether there is any instance to release."""
    if is_protected(snapshot.tags):
        return SkipReason.PROTECTED
    if snapshot.status != "InService":
        return SkipReason.NOT_IN_SERVICE
    if now - snapshot.in_service_since < settings.idle_window:
        return SkipReason.YOUNGER_THAN_WINDOW
    # Older than the window: no datapoint is zero invocations.
    if (snapshot.invocations or 0.0) > 0:
        return SkipReason.INVOKED
    if not any(v.current_instances for v in snapshot.variants if not v.serverless):
        return SkipReason.NO_INSTANCES
    return None


def _priced(
    released: Mapping[str, int], prices: Callable[[str], float | None]
) -> tuple[float, tuple[str, ...]]:
    savings, unpriced = 0.0, []
    for instance_type, count in sorted(released.items()):
        price = prices(instance_type) if instance_type else None
        if price is None:
            unpriced.append(instance_type or "unknown")
        else:
            savings += price * count
    return savings, tuple(unpriced)


def decide(
    snapshot: EndpointSnapshot,
    settings: AutoStopSettings,
    now: datetime,
    prices: Callable[[str], float | None] = instance_hourly_usd,
) -> Decision:
    """Skip or act on one endpoint; see the module docstring for the rules."""
    reason = _skip_reason(snapshot, settings, now)
    if reason is not None:
        return _skip(snapshot, reason)
    action = settings.effective_action
    plan = _Plan()
    if action is AutoStopAction.DELETE:
        _plan_delete(snapshot, plan)
    else:
        for variant in snapshot.variants:
            if not variant.serverless:
                _plan_variant(snapshot, variant, action, plan)
        if plan.capacities:
            plan.steps.append(
                Step(
                    StepKind.UPDATE_ENDPOINT_CAPACITIES,
                    {"EndpointName": snapshot.name, "DesiredWeightsAndCapacities": plan.capacities},
                )
            )
    if not plan.steps:
        return _skip(snapshot, SkipReason.ALREADY_AT_MINIMUM)
    savings, unpriced = _priced(plan.released, prices)
    return Decision(
        snapshot.name,
        acts=True,
        reason="idle",
        action=action,
        steps=tuple(plan.steps),
        instances_released=sum(plan.released.values()),
        savings_per_hour=savings,
        unpriced_instance_types=unpriced,
        action_downgraded=action is not settings.action,
    )


def variant_target_id(endpoint_name: str, variant_name: str) -> tuple[str, str]:
    """ResourceId and dimension of a variant's instance-count target."""
    return f"endpoint/{endpoint_name}/variant/{variant_name}", VARIANT_DIMENSION


def component_target_id(component_name: str) -> tuple[str, str]:
    """ResourceId and dimension of an inference component's copy-count target."""
    return f"inference-component/{component_name}", COMPONENT_DIMENSION


def summarize(
    decisions: Sequence[Decision], failures: Sequence[Mapping[str, Any]], dry_run: bool
) -> dict[str, Any]:
    """The run's JSON-able report (what the handler returns and logs)."""
    acted = [d for d in decisions if d.acts]
    return {
        "dry_run": dry_run,
        "evaluated": len(decisions) + len(failures),
        # In a dry run nothing was stopped: the same list says what would have been.
        "would_stop" if dry_run else "stopped": [d.endpoint_name for d in acted],
        "skipped": {d.endpoint_name: d.reason for d in decisions if not d.acts},
        "failed": list(failures),
        "estimated_savings_per_hour": round(sum(d.savings_per_hour for d in acted), 6),
    }
