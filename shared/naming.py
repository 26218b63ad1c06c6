"""Names of regional resources: one rule, so a primary and a secondary region never collide.

A multi-region deployment runs the same templates in two regions. Some names share a namespace
across regions — S3 buckets (global), IAM roles (per account), the account's view of stacks and
state machines in consoles, runbooks and alarms — so a name that does not say its region is a
collision waiting for the second region. The rule here:

* **regional** resource: ``<deployment>-<region>[-<purpose>]``
  (``legal-prod-ap-northeast-1-outputs``); a stack has no purpose (``legal-prod-us-east-1``) or
  names a component (``legal-prod-ap-northeast-1-global-store``);
* **global** resource, one logical resource replicated everywhere (a DynamoDB global table:
  replicas share one name by design): ``<deployment>-global-<purpose>``. ``global`` cannot be a
  region (a region's first segment has two letters), so a global name never equals a regional one.

Names are **never truncated**: truncation is where collisions come from (two long names cut to the
same prefix). Instead the inputs are bounded — deployment 3-24 characters, purpose 1-16, region
at most 20 — so that the longest name (62) fits the tightest limit (S3 buckets, 63), and every
valid input yields a valid name of every kind. Inputs outside the rule are refused with
:class:`~shared.errors.InvalidInputError`.

CloudFormation cannot call Python, so the templates spell the same rule with ``Fn::Sub``:
``!Sub "${DeploymentName}-${AWS::Region}-task-tokens"`` and
``!Sub "${DeploymentName}-global-task-tokens"``, with ``DeploymentName`` constrained by
:data:`DEPLOYMENT_PATTERN`; ``tests/templates/test_multi_region_stacks.py`` resolves those
templates and requires the very names this module computes. Deploy tooling computes stack names
here: ``python -m shared.naming stack --deployment legal-prod --region us-east-1``
(``scripts/dr-deploy-region.sh``). The module uses only the standard library.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Final

from shared.errors import InvalidInputError

__all__ = [
    "DEPLOYMENT_PATTERN",
    "GLOBAL_SEGMENT",
    "PURPOSE_PATTERN",
    "REGION_PATTERN",
    "ResourceKind",
    "global_name",
    "regional_name",
    "stack_name",
]

DEPLOYMENT_PATTERN: Final = r"^(?!xn--|sthree-|amzn-s3-demo-)[a-z][a-z0-9-]{1,22}[a-z0-9]$"
"""3-24 lowercase letters, digits and hyphens, starting with a letter (bucket-safe, and no S3
reserved prefix). The templates' ``DeploymentName`` parameter uses this exact pattern."""

PURPOSE_PATTERN: Final = r"^[a-z](?:[a-z0-9-]{0,14}[a-z0-9])?$"
"""1-16 lowercase letters, digits and hyphens: what the resource is for (``task-tokens``)."""

REGION_PATTERN: Final = r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$"
"""An AWS region code (``ap-northeast-1``, ``us-gov-west-1``), at most 20 characters."""

GLOBAL_SEGMENT: Final = "global"
"""Stands where a region would, for resources that exist once for all regions."""

_MAX_REGION_LENGTH: Final = 20
_RESERVED_BUCKET_SUFFIXES: Final = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


class ResourceKind(StrEnum):
    """Kinds of named resources, each with its service's length limit and character rule."""

    STACK = "stack"
    TABLE = "table"
    BUCKET = "bucket"
    STATE_MACHINE = "state-machine"
    FUNCTION = "function"
    ROLE = "role"

    @property
    def max_length(self) -> int:
        return _LIMITS[self][0]

    @property
    def allowed(self) -> re.Pattern[str]:
        return _LIMITS[self][1]


_LIMITS: Final[dict[ResourceKind, tuple[int, re.Pattern[str]]]] = {
    ResourceKind.STACK: (128, re.compile(r"[A-Za-z][-A-Za-z0-9]*")),
    ResourceKind.TABLE: (255, re.compile(r"[A-Za-z0-9_.-]{3,}")),
    ResourceKind.BUCKET: (63, re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")),
    ResourceKind.STATE_MACHINE: (80, re.compile(r"[A-Za-z0-9_-]+")),
    ResourceKind.FUNCTION: (64, re.compile(r"[A-Za-z0-9_-]+")),
    ResourceKind.ROLE: (64, re.compile(r"[A-Za-z0-9+=,.@_-]+")),
}


def _check(field: str, value: object, pattern: str, form: str) -> str:
    if not isinstance(value, str) or re.fullmatch(pattern, value) is None:
        raise InvalidInputError(field, f"expected {form}, got {value!r}")
    return value


def _deployment(value: object) -> str:
    return _check("deployment", value, DEPLOYMENT_PATTERN, "3-24 lowercase letters, digits and hyphens")


def _purpose(value: object) -> str:
    return _check("purpose", value, PURPOSE_PATTERN, "1-16 lowercase letters, digits and hyphens")


def _region(value: object) -> str:
    region = _check("region", value, REGION_PATTERN, "an AWS region code such as ap-northeast-1")
    if len(region) > _MAX_REGION_LENGTH:
        raise InvalidInputError("region", f"longer than {_MAX_REGION_LENGTH} characters: {region!r}")
    return region


def _finish(name: str, kind: ResourceKind) -> str:
    # Unreachable with the bounded inputs above; kept so a future kind with a tighter limit fails
    # loudly here instead of at deploy time.
    if len(name) > kind.max_length or kind.allowed.fullmatch(name) is None:  # pragma: no cover
        raise InvalidInputError("name", f"{name!r} is not a valid {kind.value} name")
    if kind is ResourceKind.BUCKET and name.endswith(_RESERVED_BUCKET_SUFFIXES):
        raise InvalidInputError("purpose", f"{name!r} ends with a suffix S3 reserves")
    return name


def regional_name(deployment: str, region: str, kind: ResourceKind, purpose: str | None = None) -> str:
    """``<deployment>-<region>[-<purpose>]``: the name of one region's resource of ``kind``.

    Every kind but :attr:`ResourceKind.STACK` needs a ``purpose``.
    """
    parts = [_deployment(deployment), _region(region)]
    kind = ResourceKind(kind)
    if purpose is None:
        if kind is not ResourceKind.STACK:
            raise InvalidInputError("purpose", f"a {kind.value} name needs a purpose")
    else:
        parts.append(_purpose(purpose))
    return _finish("-".join(parts), kind)


def stack_name(deployment: str, region: str, component: str | None = None) -> str:
    """The CloudFormation stack of ``deployment`` in ``region`` (optionally one component's stack)."""
    return regional_name(deployment, region, ResourceKind.STACK, component)


def global_name(deployment: str, kind: ResourceKind, purpose: str) -> str:
    """``<deployment>-global-<purpose>``: one name for a resource replicated to every region."""
    return _finish(f"{_deployment(deployment)}-{GLOBAL_SEGMENT}-{_purpose(purpose)}", ResourceKind(kind))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m shared.naming stack|regional|global …``: print one name (for deploy scripts)."""
    parser = argparse.ArgumentParser(
        prog="python -m shared.naming", description="Print the name of a regional or global resource."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    stack = commands.add_parser("stack", help="a regional stack name")
    stack.add_argument("--deployment", required=True)
    stack.add_argument("--region", required=True)
    stack.add_argument("--component")
    regional = commands.add_parser("regional", help="a regional resource name")
    regional.add_argument("--deployment", required=True)
    regional.add_argument("--region", required=True)
    regional.add_argument("--kind", required=True, choices=[kind.value for kind in ResourceKind])
    regional.add_argument("--purpose")
    global_ = commands.add_parser("global", help="the name of a resource replicated to every region")
    global_.add_argument("--deployment", required=True)
    global_.add_argument("--kind", required=True, choices=[kind.value for kind in ResourceKind])
    global_.add_argument("--purpose", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "stack":
            name = stack_name(args.deployment, args.region, args.component)
        elif args.command == "regional":
            name = regional_name(args.deployment, args.region, ResourceKind(args.kind), args.purpose)
        else:
            name = global_name(args.deployment, ResourceKind(args.kind), args.purpose)
    except InvalidInputError as error:
        print(f"naming: {error}", file=sys.stderr)
        return 2
    print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
