"""moto-backed tables created from the template's own definitions, and the handlers' environment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
from flexcache_dr import clients
from flexcache_dr.cycle import Stores
from flexcache_dr.store import HealthStore, RoutingStore, TopologyStore
from moto import mock_aws

from scripts.cfn_templates import REPO_ROOT, load_template

TEMPLATE = REPO_ROOT / "flexcache-anycast-dr" / "template.yaml"
TABLES = {
    "TopologyTable": "topology",
    "HealthTable": "health",
    "RoutingTable": "routing",
    "AuditTable": "audit",
}
REGION = "ap-northeast-1"


@dataclass
class Aws:
    dynamodb: Any
    s3: Any
    tables: dict[str, str]
    stores: Stores
    environ: dict[str, str]


@pytest.fixture
def aws() -> Iterator[Aws]:
    """The stack's four tables (keys as in template.yaml), an output bucket, and the function environment."""
    resources = load_template(TEMPLATE)["Resources"]
    with mock_aws():
        clients.aws.cache_clear()
        clients.s3_in.cache_clear()
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        names = {}
        for logical_id, short in TABLES.items():
            properties = resources[logical_id]["Properties"]
            dynamodb.create_table(
                TableName=f"test-{short}",
                AttributeDefinitions=properties["AttributeDefinitions"],
                KeySchema=properties["KeySchema"],
                BillingMode="PAY_PER_REQUEST",
            )
            names[short] = f"test-{short}"
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="test-output", CreateBucketConfiguration={"LocationConstraint": REGION})
        stores = Stores(
            topology=TopologyStore(dynamodb, names["topology"]),
            health=HealthStore(dynamodb, names["health"], retention=timedelta(hours=48)),
            routing=RoutingStore(dynamodb, names["routing"], names["audit"]),
        )
        environ = {
            "TOPOLOGY_TABLE": names["topology"],
            "HEALTH_TABLE": names["health"],
            "ROUTING_TABLE": names["routing"],
            "AUDIT_TABLE": names["audit"],
            "ONTAP_SECRET_PREFIX": "fsxn/",
            "ROUTING_STRATEGY": "region_affinity",
            "DRAIN_AFTER_FAILURES": "2",
            "RESTORE_AFTER_SUCCESSES": "3",
            "OUTPUT_BUCKET": "test-output",
            "DEPLOYMENT_ENVIRONMENT": "staging",
            "CANARY_KEY": "flexcache-dr/canary.bin",
            "AWS_REGION": REGION,
        }
        yield Aws(dynamodb=dynamodb, s3=s3, tables=names, stores=stores, environ=environ)
        clients.aws.cache_clear()
        clients.s3_in.cache_clear()
