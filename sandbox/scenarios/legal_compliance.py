"""legal-compliance in the sandbox: an NTFS volume with planted permission violations, served by the
ONTAP REST simulator, its files behind a bucket standing for the S3 Access Point.

The dataset is :func:`sandbox.datasets.acl_tree`: a seeded tree of files and folders (names with
spaces, ``#``, ``%`` and non-ASCII letters) whose security records, CIFS shares and NFS export
policies are loaded into the simulator, with exactly one violation of every kind the audit knows
(and one file whose security ONTAP cannot return). Scenarios:

* ``baseline`` — a full audit, as the nightly schedule starts it (``{"trigger": "schedule"}``);
* ``fpolicy`` — an FPolicy event on EventBridge naming three changed paths (two planted
  violations and a clean file) plus one outside the volume's scope: only those are audited;
* ``ontap_unreadable`` — the unreadable file answers HTTP 403 instead of 404.

The simulator runs with TLS; its CA bundle, endpoint and a Secrets Manager secret holding its
credentials are what the template's parameters point the functions at, as on AWS.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Final

from sandbox.aws import SandboxWorld, UseCaseStack
from sandbox.datasets import AclTree, acl_tree, load_acl_tree, upload_files
from sandbox.ontap import OntapSimulator
from sandbox.ontap.simulator import SimulatorEndpoint
from sandbox.runner import ExecutionResult
from sandbox.scenarios import RunOptions, RunPlan, access_point_parameters

SUBNET: Final = "subnet-0a1b2c3d4e5f60718"
SECURITY_GROUP: Final = "sg-0a1b2c3d4e5f60718"
FILE_SECURITY_PATH: Final = "/api/protocols/file-security/permissions/"


@dataclass(frozen=True)
class AuditSetup:
    """Everything a prepared run stands on, for tests and the benchmark to inspect."""

    plan: RunPlan
    tree: AclTree
    simulator: OntapSimulator
    endpoint: SimulatorEndpoint

    def file_security_requests(self) -> list[Any]:
        return [r for r in self.simulator.requests if r.path.startswith(FILE_SECURITY_PATH)]


def fpolicy_event(tree: AclTree, paths: list[str], *, volume_uuid: str | None = None) -> dict[str, Any]:
    """An EventBridge event as the FPolicy server publishes it (see legal-compliance/README.md)."""
    return {
        "version": "0",
        "id": "6f1c2b9e-0d5a-4c1e-9a57-2f7e4b1d8c30",
        "detail-type": "FPolicy File Operation",
        "source": "fsxn.fpolicy",
        "account": "123456789012",
        "time": "2026-11-22T09:14:03Z",
        "region": "ap-northeast-1",
        "resources": [],
        "detail": {
            "svm_uuid": tree.svm["uuid"],
            "volume_uuid": volume_uuid or tree.volume["uuid"],
            "operation": "setattr",
            "paths": paths,
        },
    }


def prepare_audit(
    world: SandboxWorld,
    resources: ExitStack,
    options: RunOptions,
    *,
    parameters: dict[str, Any] | None = None,
    unreadable_status: int | None = None,
) -> AuditSetup:
    """Generate the tree, load it into a running simulator, upload its files, build the plan."""
    tree = acl_tree(options.seed, files=max(options.files, 8))
    simulator = OntapSimulator()
    load_acl_tree(simulator, tree, unreadable_status=unreadable_status)
    endpoint = resources.enter_context(simulator.running(tls=True))
    secret = world.client("secretsmanager").create_secret(
        Name="legal-compliance/ontap-readonly",
        SecretString=json.dumps({"username": endpoint.username, "password": endpoint.password}),
    )
    access_point = access_point_parameters(world, "legal-matters")
    # Fewer than 8 files cannot hold every planted violation: the tree keeps 8, the access point
    # shows the first ones asked for (a smoke run), and the findings are those of what it shows.
    documents = tree.files()[: options.files] if options.files < 8 else tree.files()
    upload_files(world.client("s3"), access_point["AccessPointAlias"], documents)
    junction = tree.volume["junction_path"]
    plan_parameters = {
        **access_point,
        "VolumeUuid": tree.volume["uuid"],
        "OntapManagementEndpoint": endpoint.endpoint,
        "OntapSecretArn": secret["ARN"],
        "OntapCaBundlePath": endpoint.ca_bundle or "",
        "SubnetIds": SUBNET,
        "SecurityGroupId": SECURITY_GROUP,
        "SensitivePrefixes": ",".join(p.removeprefix(junction + "/") for p in tree.sensitive_prefixes),
        **(parameters or {}),
    }
    execution_input: dict[str, Any] = {"trigger": "schedule"}
    files = len(documents)
    if options.scenario == "fpolicy":
        targets = [tree.violation(kind).target for kind in ("broad_principal_write", "world_writable_unix")]
        planted = {v.target for v in tree.violations}
        clean = next(e.path for e in tree.entries if not e.is_directory and e.path not in planted)
        keys = [path.removeprefix(junction + "/") for path in [*targets, clean]]
        execution_input = fpolicy_event(tree, [*keys, "../outside the volume.docx"])
        files = len(keys)
    plan = RunPlan(parameters=plan_parameters, input=execution_input, files=files)
    return AuditSetup(plan, tree, simulator, endpoint)


class LegalComplianceScenario:
    use_case = "legal-compliance"
    names = ("baseline", "fpolicy", "ontap_unreadable")

    def __init__(self) -> None:
        self.last: AuditSetup | None = None

    def prepare(self, world: SandboxWorld, resources: ExitStack, options: RunOptions) -> RunPlan:
        status = 403 if options.scenario == "ontap_unreadable" else None
        self.last = prepare_audit(world, resources, options, unreadable_status=status)
        return self.last.plan

    def summarize(self, stack: UseCaseStack, result: ExecutionResult) -> dict[str, Any]:
        output = result.output if result.succeeded and isinstance(result.output, dict) else {}
        summary: dict[str, Any] = {
            "files discovered": output.get("files", 0),
            "objects audited": output.get("audited", 0),
            "findings": output.get("findings", 0),
            **{f"  {severity}": count for severity, count in (output.get("by_severity") or {}).items()},
            "unreadable": output.get("unreadable", 0),
        }
        if self.last is not None:
            calls = self.last.file_security_requests()
            summary["ONTAP file-security GETs"] = len(calls)
            summary["ONTAP connections"] = len({call.connection_id for call in calls})
        return summary


SCENARIO = LegalComplianceScenario()
