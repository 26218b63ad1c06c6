"""shared.cost_validation, serverless part: what SageMaker accepts in a ServerlessConfig."""

from __future__ import annotations

from typing import Any

import pytest

from shared.cost_validation import ServerlessConfig, validate_serverless_config
from shared.errors import InvalidInputError


@pytest.mark.parametrize("memory", [1024, 2048, 3072, 4096, 5120, 6144])
def test_every_memory_size_sagemaker_offers_is_accepted(memory: int) -> None:
    config = validate_serverless_config({"MemorySizeInMB": memory, "MaxConcurrency": 5})
    assert config == ServerlessConfig(memory, 5, 0)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"MemorySizeInMB": 4096, "MaxConcurrency": 1}, ServerlessConfig(4096, 1, 0)),
        ({"MemorySizeInMB": 4096, "MaxConcurrency": 200}, ServerlessConfig(4096, 200, 0)),
        (
            {"MemorySizeInMB": 4096, "MaxConcurrency": 5, "ProvisionedConcurrency": 5},
            ServerlessConfig(4096, 5, 5),
        ),
        (
            {"MemorySizeInMB": 4096, "MaxConcurrency": 5, "ProvisionedConcurrency": 0},
            ServerlessConfig(4096, 5, 0),
        ),
        # CloudFormation passes parameters as strings
        (
            {"MemorySizeInMB": "2048", "MaxConcurrency": "10", "ProvisionedConcurrency": "2"},
            ServerlessConfig(2048, 10, 2),
        ),
    ],
)
def test_valid_configs(config: dict[str, Any], expected: ServerlessConfig) -> None:
    assert validate_serverless_config(config) == expected


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"MemorySizeInMB": 1000, "MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MemorySizeInMB": 1536, "MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MemorySizeInMB": 7168, "MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MemorySizeInMB": 2048, "MaxConcurrency": 0}, "MaxConcurrency"),
        ({"MemorySizeInMB": 2048, "MaxConcurrency": 201}, "MaxConcurrency"),
        (
            {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 6},
            "ProvisionedConcurrency",
        ),
        (
            {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": -1},
            "ProvisionedConcurrency",
        ),
        ({"MemorySizeInMB": 2048.0, "MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MemorySizeInMB": True, "MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MemorySizeInMB": "2 GB", "MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MaxConcurrency": 5}, "MemorySizeInMB"),
        ({"MemorySizeInMB": 2048}, "MaxConcurrency"),
        ({"MemorySizeInMB": 2048, "MaxConcurrency": 5, "Memory": 1}, "ServerlessConfig"),
    ],
)
def test_invalid_configs_name_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_serverless_config(config)
    assert caught.value.field == field


def test_not_a_mapping_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="expected a mapping"):
        validate_serverless_config([("MemorySizeInMB", 1024)])  # type: ignore[arg-type]


def test_to_api_leaves_out_provisioned_concurrency_when_none() -> None:
    assert ServerlessConfig(2048, 5).to_api() == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert ServerlessConfig(2048, 5, 1).to_api() == {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 5,
        "ProvisionedConcurrency": 1,
    }
