"""The moto world: a use case's stack created from its own template.yaml, without an AWS account.

A :class:`SandboxWorld` is one ``mock_aws`` context with moto's Step Functions interpreter on
(``execute_state_machine``) and Lambda invocations dispatched in process
(:mod:`sandbox.lambda_dispatch`). ``world.deploy("legal-compliance")`` reads the template,
evaluates parameters and conditions, and creates what moto can host, in CloudFormation's
dependency order: S3 buckets, DynamoDB tables, SNS topics, SQS queues, Secrets Manager secrets,
SSM parameters, event buses, the Lambda functions (real handlers) and the state machines (the
very ASL files, ``DefinitionSubstitutions`` resolved).

Resources that only exist on real AWS (IAM, log groups, alarms, schedules, nested stacks …) are
skipped and recorded in :attr:`UseCaseStack.skipped` — never faked. Their ``Ref`` is still a
plausible physical name (and ``Arn`` for common types), so an environment variable naming a log
group resolves; anything else about them fails with an error naming the reference.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Self

import boto3
from moto import mock_aws

from sandbox.lambda_dispatch import Invocation, LambdaDispatcher
from sandbox.runner import ExecutionResult, TopicWatch, run_execution
from sandbox.template import (
    DEFAULT_REGION,
    FUNCTION_TYPES,
    PhysicalResource,
    Resource,
    Template,
    TemplateError,
    physical_suffix,
)

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
MOTO_CONFIG: Final[Any] = {"stepfunctions": {"execute_state_machine": True}}
_REGION_VARIABLES: Final = ("AWS_REGION", "AWS_DEFAULT_REGION")
SANDBOX_ROLE_NAME: Final = "sandbox-execution-role"
"""The one IAM role moto's Lambda and Step Functions APIs require; templates' roles are skipped."""


class SandboxError(Exception):
    """The world cannot be built as asked (unknown use case, unsupported resource shape …)."""


@dataclass(frozen=True)
class SkippedResource:
    """A resource the sandbox did not create, and why."""

    logical_id: str
    type: str
    reason: str


@dataclass
class UseCaseStack:
    """One deployed template: physical names, functions, state machines, and what was skipped."""

    name: str
    root: Path
    template: Template
    world: SandboxWorld
    resources: dict[str, PhysicalResource] = field(default_factory=dict)
    function_arns: dict[str, str] = field(default_factory=dict)
    state_machine_arns: dict[str, str] = field(default_factory=dict)
    skipped: list[SkippedResource] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def ref(self, logical_id: str) -> str:
        """What ``!Ref logical_id`` resolved to (bucket name, topic ARN, queue URL …)."""
        return self._physical(logical_id).ref

    def attribute(self, logical_id: str, name: str) -> str:
        """What ``!GetAtt logical_id.name`` resolved to."""
        physical = self._physical(logical_id)
        if name not in physical.attributes:
            raise SandboxError(f"{logical_id} has no attribute {name} (known: {sorted(physical.attributes)})")
        return physical.attributes[name]

    def arn(self, logical_id: str) -> str:
        return self.attribute(logical_id, "Arn")

    def _physical(self, logical_id: str) -> PhysicalResource:
        if logical_id not in self.resources:
            raise SandboxError(
                f"{self.name} has no resource {logical_id} (conditions: {self.template.conditions})"
            )
        return self.resources[logical_id]

    def state_machine_arn(self, logical_id: str | None = None) -> str:
        """The ARN of ``logical_id``, or of the template's only state machine."""
        if logical_id is not None:
            return self.state_machine_arns[logical_id]
        if len(self.state_machine_arns) != 1:
            raise SandboxError(f"{self.name} has state machines {sorted(self.state_machine_arns)}: name one")
        return next(iter(self.state_machine_arns.values()))

    def run(
        self,
        execution_input: Any,
        *,
        state_machine: str | None = None,
        timeout_s: float = 120.0,
        name: str | None = None,
    ) -> ExecutionResult:
        """Start the state machine with ``execution_input`` and wait for its end (bounded)."""
        return run_execution(
            self.world.client("stepfunctions"),
            self.state_machine_arn(state_machine),
            execution_input,
            timeout_s=timeout_s,
            name=name,
        )

    def watch_topic(self, logical_id: str) -> TopicWatch:
        """Subscribe a test queue to a topic of this stack, to read what the workflow published."""
        return TopicWatch.subscribe(self.world.client("sns"), self.world.client("sqs"), self.ref(logical_id))


class SandboxWorld:
    """One moto world (``mock_aws``) in which use-case stacks are deployed and run."""

    def __init__(self, *, region: str = DEFAULT_REGION) -> None:
        self.region = region
        self.stacks: dict[str, UseCaseStack] = {}
        self.dispatcher = LambdaDispatcher()
        self._mock = mock_aws(config=MOTO_CONFIG)
        self._clients: dict[str, Any] = {}
        self._region_before: dict[str, str | None] = {}
        self.role_arn = ""

    def __enter__(self) -> Self:
        self._mock.start()
        # The world's region is the default of every client made outside handlers too (before
        # the dispatcher opens: nothing else runs yet, so os.environ can change safely).
        self._region_before = {name: os.environ.get(name) for name in _REGION_VARIABLES}
        os.environ.update(dict.fromkeys(_REGION_VARIABLES, self.region))
        try:
            self.dispatcher.__enter__()
            role = self.client("iam").create_role(
                RoleName=SANDBOX_ROLE_NAME,
                AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
                Description="moto's Lambda/Step Functions APIs need a role; templates' roles are not created",
            )
            self.role_arn = str(role["Role"]["Arn"])
        except BaseException:
            self._restore_region()
            self._mock.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.dispatcher.__exit__(*exc_info)
        finally:
            self._clients.clear()
            self._restore_region()
            self._mock.stop()

    def _restore_region(self) -> None:
        for name, value in self._region_before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    @property
    def invocations(self) -> list[Invocation]:
        """Every Lambda invocation dispatched in this world, in order."""
        return self.dispatcher.invocations

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` in this world's region (served by moto)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region)
        return self._clients[service]

    def create_bucket(self, name: str) -> str:
        """A bucket outside any stack, e.g. to stand for an S3 Access Point alias (a bucket name to S3)."""
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.client("s3").create_bucket(**kwargs)
        return name

    def deploy(
        self,
        use_case: str | Path,
        *,
        stack_name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        environment: Mapping[str, str] | None = None,
        function_environment: Mapping[str, Mapping[str, str]] | None = None,
    ) -> UseCaseStack:
        """Create a use case's resources from its template.

        ``use_case`` is a folder name under the repository root (``"legal-compliance"``) or a
        path to a folder with a template.yaml. ``parameters`` override the template's parameters
        (validated as CloudFormation would); ``environment`` is added to every function's
        variables (e.g. the ONTAP simulator's endpoint) and ``function_environment`` to one
        function's, by logical id — both win over the template's values.
        """
        root = resolve_use_case(use_case)
        template_path = _template_file(root)
        name = stack_name or root.name
        if name in self.stacks:
            raise SandboxError(f"a stack named {name} is already deployed in this world")
        template = Template.from_file(
            template_path, stack_name=name, region=self.region, parameter_overrides=parameters
        )
        declared = {lid for lid, res in template.resources.items() if res.type in FUNCTION_TYPES}
        unknown = sorted(set(function_environment or {}) - declared)
        if unknown:
            raise SandboxError(f"function_environment names no function of {name}: {', '.join(unknown)}")
        stack = UseCaseStack(name=name, root=root, template=template, world=self)
        self.stacks[name] = stack
        builder = _StackBuilder(self, stack, dict(environment or {}), dict(function_environment or {}))
        for logical_id in template.creation_order():
            builder.create(template.resources[logical_id])
        for logical_id, resource in template.inactive_resources.items():
            stack.notes.append(
                f"{logical_id} ({resource.type}) not created: condition {resource.condition} is false"
            )
        return stack


def resolve_use_case(use_case: str | Path) -> Path:
    """A use-case folder: a name or path relative to the repository root (or the working directory)."""
    candidate = Path(use_case)
    options = [candidate] if candidate.is_absolute() else [REPO_ROOT / candidate, Path.cwd() / candidate]
    for option in options:
        if option.is_dir():
            return option.resolve()
    raise SandboxError(f"no use case folder {use_case} (looked in {', '.join(map(str, options))})")


def _template_file(root: Path) -> Path:
    for name in ("template.yaml", "template.yml"):
        if (root / name).is_file():
            return root / name
    raise SandboxError(f"{root} has no template.yaml")


# --- creating resources -----------------------------------------------------------------------

_AWS_ONLY_ARNS: Final = {
    "AWS::IAM::Role": "arn:{partition}:iam::{account}:role/{name}",
    "AWS::Logs::LogGroup": "arn:{partition}:logs:{region}:{account}:log-group:{name}:*",
    "AWS::CloudWatch::Alarm": "arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}",
    "AWS::Scheduler::Schedule": "arn:{partition}:scheduler:{region}:{account}:schedule/default/{name}",
    "AWS::Events::Rule": "arn:{partition}:events:{region}:{account}:rule/{name}",
    "AWS::KMS::Key": "arn:{partition}:kms:{region}:{account}:key/{name}",
}
_NESTED_STACK_TYPES: Final = ("AWS::Serverless::Application", "AWS::CloudFormation::Stack")
_LAMBDA_RESERVED_VARIABLES: Final = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


class _StackBuilder:
    """Creates one resource at a time; each creator returns what Ref/GetAtt resolve to."""

    def __init__(
        self,
        world: SandboxWorld,
        stack: UseCaseStack,
        environment: dict[str, str],
        function_environment: dict[str, Mapping[str, str]],
    ) -> None:
        self.world = world
        self.stack = stack
        self.template = stack.template
        self.environment = environment
        self.function_environment = function_environment
        pseudo = self.template.pseudo
        self.region, self.account, self.partition = pseudo.region, pseudo.account_id, pseudo.partition
        self.creators: dict[str, Callable[[Resource], PhysicalResource]] = {
            "AWS::S3::Bucket": self._bucket,
            "AWS::DynamoDB::Table": self._table,
            "AWS::DynamoDB::GlobalTable": self._table,
            "AWS::Serverless::SimpleTable": self._simple_table,
            "AWS::SNS::Topic": self._topic,
            "AWS::SQS::Queue": self._queue,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::SSM::Parameter": self._ssm_parameter,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::Serverless::LayerVersion": self._layer,
            "AWS::Lambda::LayerVersion": self._layer,
            "AWS::Serverless::Function": self._function,
            "AWS::Lambda::Function": self._function,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::StepFunctions::StateMachine": self._state_machine,
        }

    # -- helpers --

    def create(self, resource: Resource) -> None:
        creator = self.creators.get(resource.type)
        physical = creator(resource) if creator else self._skip(resource)
        self.stack.resources[resource.logical_id] = physical

    def prop(self, resource: Resource, name: str, default: Any = None) -> Any:
        if name not in resource.properties:
            return default
        value = self.template.resolve(
            resource.properties[name], self.stack.resources, where=f"{resource.logical_id}.Properties.{name}"
        )
        return default if value is None else value

    def name(self, resource: Resource, name_property: str | None, *, limit: int, lower: bool = False) -> str:
        explicit = self.prop(resource, name_property) if name_property else None
        if explicit:
            return str(explicit)
        suffix = physical_suffix(self.stack.name, resource.logical_id)
        generated = f"{self.stack.name}-{resource.logical_id}"[: limit - len(suffix) - 1] + f"-{suffix}"
        return generated.lower() if lower else generated

    def arn(self, service: str, resource_part: str, *, region: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account}:{resource_part}"
        )

    def client(self, service: str) -> Any:
        return self.world.client(service)

    def _note_events(self, resource: Resource) -> None:
        events = resource.properties.get("Events")
        if events:
            self.stack.notes.append(
                f"{resource.logical_id}: event sources {', '.join(sorted(events))} are not wired; "
                "runs are started explicitly"
            )

    def _skip(self, resource: Resource) -> PhysicalResource:
        if resource.type in _NESTED_STACK_TYPES:
            reason = f"{resource.type} is a nested stack; the sandbox deploys one template"
        else:
            reason = f"{resource.type} is not created in the sandbox: it only takes effect on AWS"
        self.stack.skipped.append(SkippedResource(resource.logical_id, resource.type, reason))
        name = self.name(resource, None, limit=64)
        pattern = _AWS_ONLY_ARNS.get(resource.type)
        attributes: dict[str, str] = {}
        if pattern:
            attributes["Arn"] = pattern.format(
                partition=self.partition, region=self.region, account=self.account, name=name
            )
        return PhysicalResource(ref=name, attributes=attributes, skipped_reason=reason)

    # -- data stores and messaging --

    def _bucket(self, resource: Resource) -> PhysicalResource:
        name = self.name(resource, "BucketName", limit=63, lower=True)
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        s3 = self.client("s3")
        s3.create_bucket(**kwargs)
        versioning = self.prop(resource, "VersioningConfiguration")
        if versioning and versioning.get("Status"):
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning["Status"]})
        return PhysicalResource(
            ref=name,
            attributes={
                "Arn": f"arn:{self.partition}:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
            },
        )

    def _table(self, resource: Resource) -> PhysicalResource:
        name = self.name(resource, "TableName", limit=255)
        billing = self.prop(resource, "BillingMode", "PROVISIONED")
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": self.prop(resource, "AttributeDefinitions"),
            "KeySchema": self.prop(resource, "KeySchema"),
            "BillingMode": billing,
        }
        if billing == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = self.prop(
                resource, "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            indexes = self.prop(resource, index_kind)
            if indexes:
                kwargs[index_kind] = indexes
        stream = self.prop(resource, "StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        if resource.type == "AWS::DynamoDB::GlobalTable" and self.prop(resource, "Replicas"):
            self.stack.notes.append(f"{resource.logical_id}: global table created in {self.region} only")
        dynamodb = self.client("dynamodb")
        table = dynamodb.create_table(**kwargs)["TableDescription"]
        ttl = self.prop(resource, "TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled", "true")).lower() == "true":
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        attributes = {"Arn": str(table["TableArn"])}
        if table.get("LatestStreamArn"):
            attributes["StreamArn"] = str(table["LatestStreamArn"])
        return PhysicalResource(ref=name, attributes=attributes)

    def _simple_table(self, resource: Resource) -> PhysicalResource:
        key = self.prop(resource, "PrimaryKey", {"Name": "id", "Type": "String"})
        kind = {"String": "S", "Number": "N", "Binary": "B"}[key.get("Type", "String")]
        table = Resource(
            logical_id=resource.logical_id,
            type="AWS::DynamoDB::Table",
            properties={
                "TableName": resource.properties.get("TableName"),
                "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": kind}],
                "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        )
        return self._table(table)

    def _topic(self, resource: Resource) -> PhysicalResource:
        fifo = str(self.prop(resource, "FifoTopic", "false")).lower() == "true"
        name = self.name(resource, "TopicName", limit=256 - (5 if fifo else 0))
        if fifo and not name.endswith(".fifo"):
            name += ".fifo"
        attributes = {"FifoTopic": "true"} if fifo else {}
        arn = str(self.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"])
        if resource.properties.get("Subscription"):
            self.stack.notes.append(f"{resource.logical_id}: subscriptions are not created (use watch_topic)")
        return PhysicalResource(ref=arn, attributes={"TopicArn": arn, "TopicName": name})

    def _queue(self, resource: Resource) -> PhysicalResource:
        fifo = str(self.prop(resource, "FifoQueue", "false")).lower() == "true"
        name = self.name(resource, "QueueName", limit=80 - (5 if fifo else 0))
        if fifo and not name.endswith(".fifo"):
            name += ".fifo"
        attributes: dict[str, str] = {"FifoQueue": "true"} if fifo else {}
        for key in (
            "VisibilityTimeout",
            "MessageRetentionPeriod",
            "DelaySeconds",
            "ReceiveMessageWaitTimeSeconds",
            "ContentBasedDeduplication",
            "RedrivePolicy",
        ):
            value = self.prop(resource, key)
            if value is not None:
                attributes[key] = json.dumps(value) if isinstance(value, dict) else str(value).lower()
        sqs = self.client("sqs")
        url = str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
        arn = self.arn("sqs", name)
        return PhysicalResource(ref=url, attributes={"Arn": arn, "QueueName": name, "QueueUrl": url})

    def _secret(self, resource: Resource) -> PhysicalResource:
        name = self.name(resource, "Name", limit=512)
        secret = self.prop(resource, "SecretString")
        generate = self.prop(resource, "GenerateSecretString")
        if secret is None and generate is not None:
            secret = self._generated_secret(generate)
        kwargs: dict[str, Any] = {"Name": name}
        if secret is not None:
            kwargs["SecretString"] = secret if isinstance(secret, str) else json.dumps(secret)
        arn = str(self.client("secretsmanager").create_secret(**kwargs)["ARN"])
        return PhysicalResource(ref=arn, attributes={"Id": arn})

    def _generated_secret(self, generate: Mapping[str, Any]) -> str:
        options = {
            key: generate[key]
            for key in (
                "PasswordLength",
                "ExcludeCharacters",
                "ExcludeNumbers",
                "ExcludePunctuation",
                "ExcludeUppercase",
                "ExcludeLowercase",
                "IncludeSpace",
                "RequireEachIncludedType",
            )
            if key in generate
        }
        if "PasswordLength" in options:
            options["PasswordLength"] = int(options["PasswordLength"])
        password = str(self.client("secretsmanager").get_random_password(**options)["RandomPassword"])
        if "SecretStringTemplate" in generate and "GenerateStringKey" in generate:
            document = json.loads(generate["SecretStringTemplate"])
            document[generate["GenerateStringKey"]] = password
            return json.dumps(document)
        return password

    def _ssm_parameter(self, resource: Resource) -> PhysicalResource:
        name = self.name(resource, "Name", limit=1011)
        kind = str(self.prop(resource, "Type", "String"))
        value = self.prop(resource, "Value")
        self.client("ssm").put_parameter(Name=name, Type=kind, Value=str(value))
        return PhysicalResource(ref=name, attributes={"Type": kind, "Value": str(value)})

    def _event_bus(self, resource: Resource) -> PhysicalResource:
        name = self.name(resource, "Name", limit=256)
        arn = str(self.client("events").create_event_bus(Name=name)["EventBusArn"])
        return PhysicalResource(ref=name, attributes={"Arn": arn, "Name": name})

    # -- code --

    def _layer(self, resource: Resource) -> PhysicalResource:
        name = self.name(resource, "LayerName", limit=140)
        self.stack.notes.append(f"{resource.logical_id}: layer served in process from its ContentUri")
        return PhysicalResource(ref=self.arn("lambda", f"layer:{name}:1"))

    def _function(self, resource: Resource) -> PhysicalResource:
        lid = resource.logical_id
        name = self.name(resource, "FunctionName", limit=64)
        arn = self.arn("lambda", f"function:{name}")
        # The function's own spec may refer to itself (e.g. POWERTOOLS_SERVICE_NAME: !Ref Self).
        self.stack.resources[lid] = PhysicalResource(ref=name, attributes={"Arn": arn})
        spec = self.template.function(lid, self.stack.resources)
        reserved = sorted(set(spec.environment) & _LAMBDA_RESERVED_VARIABLES)
        if reserved:
            # CreateFunction refuses these on AWS; moto would accept them silently.
            raise TemplateError(f"{lid}: Lambda reserves environment variable(s) {', '.join(reserved)}")
        variables = {**spec.environment, **self.environment, **self.function_environment.get(lid, {})}
        spec = dataclasses.replace(spec, environment=variables)
        deployed_arn = self.world.dispatcher.deploy(
            self.client("lambda"), spec, role_arn=self.world.role_arn, region=self.region
        )
        if deployed_arn != arn:
            raise SandboxError(f"{lid}: moto created {deployed_arn}, expected {arn}")
        self.stack.function_arns[lid] = arn
        self._note_events(resource)
        alias = self.prop(resource, "AutoPublishAlias")
        if alias:
            # SAM's `!Ref Function.Alias` / `.Version`: a published version behind the alias.
            lambda_client = self.client("lambda")
            version = str(lambda_client.publish_version(FunctionName=name)["Version"])
            lambda_client.create_alias(FunctionName=name, Name=str(alias), FunctionVersion=version)
            self.stack.resources[f"{lid}.Alias"] = PhysicalResource(ref=f"{arn}:{alias}")
            self.stack.resources[f"{lid}.Version"] = PhysicalResource(ref=f"{arn}:{version}")
        return PhysicalResource(ref=name, attributes={"Arn": arn})

    def _state_machine(self, resource: Resource) -> PhysicalResource:
        lid = resource.logical_id
        name_property = "Name" if resource.type == "AWS::Serverless::StateMachine" else "StateMachineName"
        explicit = self.prop(resource, name_property)
        name = str(explicit) if explicit else f"{lid}-{physical_suffix(self.stack.name, lid)}"
        arn = self.arn("states", f"stateMachine:{name}")
        self.stack.resources[lid] = PhysicalResource(ref=arn, attributes={"Arn": arn, "Name": name})
        spec = self.template.state_machine(lid, self.stack.resources)
        definition = spec.render()
        try:
            created = self.client("stepfunctions").create_state_machine(
                name=name, definition=definition, roleArn=self.world.role_arn, type=spec.type
            )
        except Exception as error:
            source = spec.definition_path or f"{lid}.Definition"
            raise TemplateError(
                f"{source}: moto's Step Functions rejected the definition: {error}"
            ) from error
        if created["stateMachineArn"] != arn:
            raise SandboxError(f"{lid}: moto created {created['stateMachineArn']}, expected {arn}")
        self.stack.state_machine_arns[lid] = arn
        self._note_events(resource)
        return PhysicalResource(ref=arn, attributes={"Arn": arn, "Name": name})
