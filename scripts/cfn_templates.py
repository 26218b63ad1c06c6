"""Every CloudFormation template in the repo, as CloudFormation will see it after the SAM transform.

cfn-lint validates SAM templates directly, but cfn-guard rules and CloudFormation Guard Hooks see
the *transformed* template: ``AWS::Serverless::Function`` has become ``AWS::Lambda::Function`` with
Globals merged, roles and policies generated. This module produces that form offline:

1. decode the YAML with cfn-lint's decoder (short-form tags such as ``!Ref`` become the long-form
   maps Guard expects: ``{"Ref": ...}``);
2. do what ``sam package`` does to local paths: code folders become S3 locations, and a state
   machine's ``DefinitionUri`` file is read into ``Definition``;
3. run aws-sam-translator, the library that performs the ``AWS::Serverless-2016-10-31`` transform.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode import decode
from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

REPO_ROOT = Path(__file__).resolve().parent.parent
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
_CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


class TemplateError(Exception):
    """A template cannot be decoded or transformed; the message names the file."""


def template_paths(root: Path = REPO_ROOT) -> list[Path]:
    """Each use case's ``template.yaml`` and every nested stack in ``shared/cfn``."""
    paths = sorted(root.glob("*/template.yaml")) + sorted((root / "shared" / "cfn").glob("*.yaml"))
    return [path for path in paths if ".aws-sam" not in path.parts]


def load_template(path: Path) -> dict[str, Any]:
    """The template with intrinsic functions in long form (``{"Ref": ...}``)."""
    template, matches = decode(str(path))
    if matches or template is None:
        raise TemplateError(f"{path}: " + "; ".join(str(match) for match in matches))
    plain: dict[str, Any] = json.loads(json.dumps(template))  # plain dicts, not cfn-lint's node types
    return plain


def package_local_paths(template: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """What ``sam package`` does: local code folders → S3 locations, local ASL files → Definition."""
    packaged = copy.deepcopy(template)
    for logical_id, resource in packaged.get("Resources", {}).items():
        kind = resource.get("Type", "")
        properties = resource.setdefault("Properties", {})
        code_property = _CODE_PROPERTIES.get(kind)
        if code_property and isinstance(properties.get(code_property), str):
            properties[code_property] = f"s3://sam-artifacts/{logical_id}.zip"
        uri = properties.get("DefinitionUri")
        if kind == "AWS::Serverless::StateMachine" and isinstance(uri, str) and not uri.startswith("s3://"):
            with (base_dir / uri).open(encoding="utf-8") as handle:
                properties["Definition"] = json.load(handle)
            del properties["DefinitionUri"]
    return packaged


def transformed(
    path: Path, parameter_values: dict[str, Any] | None = None, *, region: str = "us-east-1"
) -> dict[str, Any]:
    """The CloudFormation template a deploy of ``path`` produces (plain CFN is returned as is).

    The region only decides the partition of generated ARNs. Our templates name managed policies
    by ARN, so the translator is given no managed-policy names to look up (no IAM call).
    """
    template = load_template(path)
    declared = template.get("Transform", [])
    transforms = declared if isinstance(declared, list) else [declared]
    if SAM_TRANSFORM not in transforms:
        return template
    # The translator records its own usage metrics; publishing them to its no-op publisher keeps
    # it from warning about unpublished metrics at exit.
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(
        None, Parser(), boto_session=boto3.session.Session(region_name=region), metrics=metrics
    )
    try:
        result: dict[str, Any] = translator.translate(
            package_local_paths(template, path.parent),
            parameter_values=parameter_values or {},
            get_managed_policy_map=dict,
        )
    except Exception as error:  # the translator raises many unrelated exception types
        raise TemplateError(f"{path}: SAM transform failed: {error}") from error
    finally:
        metrics.publish()
    return result
