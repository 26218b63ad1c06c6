"""Each function's settings from its environment: validated once, errors name the variable."""

from __future__ import annotations

import pytest
from legal_compliance.settings import (
    AuditDiscoverySettings,
    BatchSettings,
    ContextSettings,
    ReportSettings,
    rule_config_from_env,
)

from shared.errors import InvalidInputError

VOLUME = "7d9e1f20-3a4b-4c5d-8e6f-708192a3b4c5"
ONTAP = {
    "ONTAP_MANAGEMENT_ENDPOINT": "10.0.0.5",
    "ONTAP_SECRET_ID": "arn:aws:secretsmanager:x",
    "OUTPUT_BUCKET": "out",
}


def test_rule_parameters_are_read_and_normalised() -> None:
    config = rule_config_from_env(
        {
            "ENABLED_RULES": "broad_principal_read_sensitive",
            "DISABLED_RULES": "orphaned_sid, direct_user_ace",
            "MINIMUM_SEVERITY": "medium",
            "SENSITIVE_PREFIXES": " /Matters/Privileged/ ,HR,, litigation #42",
            "BROAD_PRINCIPAL_MIN_RIGHTS": "full_control",
            "USER_ACCOUNT_PATTERN": r"^CORP\\u[0-9]+$",
        }
    )
    assert config.enabled == {"broad_principal_read_sensitive"}
    assert config.disabled == {"orphaned_sid", "direct_user_ace"}
    assert config.minimum_severity == "medium"
    assert config.params == {
        "sensitive_prefixes": ["Matters/Privileged/", "HR/", "litigation #42/"],
        "broad_min_rights": "full_control",
        "user_account_pattern": r"^CORP\\u[0-9]+$",
    }


def test_empty_rule_parameters_keep_the_catalogue_defaults() -> None:
    config = rule_config_from_env({"SENSITIVE_PREFIXES": "", "USER_ACCOUNT_PATTERN": " "})
    assert (config.params, config.enabled, config.disabled, config.minimum_severity) == (
        {},
        set(),
        set(),
        "low",
    )


@pytest.mark.parametrize(
    ("environ", "field"),
    [
        ({"MINIMUM_SEVERITY": "urgent"}, "MINIMUM_SEVERITY"),
        ({"BROAD_PRINCIPAL_MIN_RIGHTS": "no_access"}, "BROAD_PRINCIPAL_MIN_RIGHTS"),
        ({"USER_ACCOUNT_PATTERN": "(unclosed"}, "USER_ACCOUNT_PATTERN"),
        ({"DISABLED_RULES": "Orphaned-SID"}, "DISABLED_RULES"),
        ({"SENSITIVE_PREFIXES": "a/../b"}, "SENSITIVE_PREFIXES"),
    ],
)
def test_bad_rule_parameters_are_refused_by_name(environ: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        rule_config_from_env(environ)
    assert raised.value.field == field


def test_function_settings() -> None:
    assert ContextSettings.from_env({**ONTAP, "VOLUME_UUID": VOLUME}).volume_uuid == VOLUME
    assert BatchSettings.from_env(ONTAP).output.bucket == "out"
    assert ReportSettings.from_env({"OUTPUT_BUCKET": "out"}).bedrock_model_id is None
    assert ReportSettings.from_env(
        {"OUTPUT_BUCKET": "out", "BEDROCK_MODEL_ID": "amazon.nova-micro-v1:0"}
    ).bedrock_model_id
    discovery = AuditDiscoverySettings.from_env(
        {
            "ACCESS_POINT": "legal-ap-0a1b2c3d4e5f6g7h8i9j0k1l2m-ext-s3alias",
            "OUTPUT_BUCKET": "out",
            "VOLUME_UUID": VOLUME,
        }
    )
    assert discovery.max_event_paths == 1000


@pytest.mark.parametrize(
    ("environ", "field"),
    [
        ({**ONTAP, "VOLUME_UUID": "vol1"}, "VOLUME_UUID"),
        (
            {"ONTAP_MANAGEMENT_ENDPOINT": "10.0.0.5", "ONTAP_SECRET_ID": "s", "VOLUME_UUID": VOLUME},
            "OUTPUT_BUCKET",
        ),
    ],
)
def test_bad_function_settings_are_refused_by_name(environ: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        ContextSettings.from_env(environ)
    assert raised.value.field == field


def test_the_event_path_limit_is_bounded() -> None:
    base = {
        "ACCESS_POINT": "legal-ap-0a1b2c3d4e5f6g7h8i9j0k1l2m-ext-s3alias",
        "OUTPUT_BUCKET": "out",
        "VOLUME_UUID": VOLUME,
    }
    with pytest.raises(InvalidInputError) as raised:
        AuditDiscoverySettings.from_env({**base, "MAX_EVENT_PATHS": "0"})
    assert raised.value.field == "MAX_EVENT_PATHS"
