"""In-process Lambda dispatch: the sandbox's one moto adaptation, and the guard on moto's seam."""

from __future__ import annotations

import inspect
import json
import os
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import boto3
import moto
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

from sandbox import lambda_dispatch
from sandbox.lambda_dispatch import (
    PINNED_MOTO_VERSION,
    LambdaDispatcher,
    MotoSeamChangedError,
    verify_moto_seam,
)
from sandbox.template import FunctionSpec

REGION = "ap-northeast-1"
SHARED_LAYER = Path(__file__).resolve().parents[2] / "shared"

PROBE = """
import json
import os
import time
from decimal import Decimal

import boto3

from shared.errors import S3TransientError

IMPORTED_WITH = os.environ.get("PROBE_SETTING")
CALLS = 0


class ProbeTerminalError(Exception):
    pass


def handler(event, context):
    global CALLS
    CALLS += 1
    action = event.get("action")
    if action == "raise":
        raise ProbeTerminalError("the probe failed on purpose")
    if action == "raise_shared":
        raise S3TransientError("throttled", attempt=1)
    if action == "not_json":
        return {"value": object()}
    if action == "decimal":
        return {"value": Decimal("1.5")}
    if action == "sleep":
        time.sleep(event["seconds"])
        return {}
    if action == "exit":
        raise SystemExit(3)
    if action == "mutate_env":
        os.environ["PROBE_LEAK"] = "leaked"
        del os.environ["PROBE_SETTING"]
        return {}
    if action == "invoke":
        nested = boto3.client("lambda").invoke(FunctionName=event["function"], Payload=json.dumps({}))
        return {
            "nested": json.loads(nested["Payload"].read()),
            "setting_after_nested_call": os.environ.get("PROBE_SETTING"),
        }
    return {
        "event": event,
        "setting": os.environ.get("PROBE_SETTING"),
        "imported_with": IMPORTED_WITH,
        "calls": CALLS,
        "function_name_env": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "region_env": os.environ.get("AWS_REGION"),
        "context": {
            "function_name": context.function_name,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
"""


@pytest.fixture
def probe_code(tmp_path: Path) -> Path:
    package = tmp_path / "src" / "dispatch_probe"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(textwrap.dedent(PROBE))
    return tmp_path / "src"


def _spec(code_dir: Path, name: str, **overrides: object) -> FunctionSpec:
    values: dict[str, object] = {
        "logical_id": name,
        "function_name": name,
        "function_arn": f"arn:aws:lambda:{REGION}:123456789012:function:{name}",
        "handler": "dispatch_probe.app.handler",
        "code_dir": code_dir,
        "runtime": "python3.13",
        "timeout_s": 5,
        "memory_mb": 256,
        "environment": {"PROBE_SETTING": f"setting-of-{name}"},
        "layer_dirs": (SHARED_LAYER,),
    }
    values.update(overrides)
    return FunctionSpec(**values)  # type: ignore[arg-type]


@pytest.fixture
def moto_lambda():
    with mock_aws():
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="probe-role", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        yield boto3.client("lambda", region_name=REGION), role


def _invoke(client, name: str, event: dict) -> tuple[dict, str | None]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event))
    return json.loads(response["Payload"].read()), response.get("FunctionError")


# --- the guard on moto's seam -------------------------------------------------------------------


def test_moto_is_the_version_and_shape_the_dispatch_was_written_for():
    # Fails first when moto is upgraded: read sandbox/lambda_dispatch.py's docstring, re-check
    # LambdaFunction._invoke_lambda and LambdaFunction.invoke, then move the pin.
    assert moto.__version__ == PINNED_MOTO_VERSION
    assert list(inspect.signature(LambdaFunction._invoke_lambda).parameters) == ["self", "event"]
    assert "self._invoke_lambda(event=body)" in inspect.getsource(LambdaFunction.invoke)
    verify_moto_seam()


def test_seam_guard_fails_loudly_on_another_moto(monkeypatch):
    monkeypatch.setattr(moto, "__version__", "6.0.0")

    def changed(self, event, context):  # pragma: no cover - never called
        raise AssertionError

    monkeypatch.setattr(lambda_dispatch, "_ORIGINAL_INVOKE_LAMBDA", changed)

    with pytest.raises(MotoSeamChangedError, match=r"moto 6\.0\.0 is installed.*not \(self, event\)"):
        verify_moto_seam()


def test_dispatcher_installs_only_while_open_and_restores_moto(moto_lambda, probe_code):
    client, role = moto_lambda
    original = LambdaFunction.__dict__["_invoke_lambda"]
    backing = os.environ._data  # type: ignore[attr-defined]

    with LambdaDispatcher() as dispatcher:
        assert LambdaFunction.__dict__["_invoke_lambda"] is not original
        dispatcher.deploy(client, _spec(probe_code, "probe"), role_arn=role, region=REGION)
        assert _invoke(client, "probe", {})[1] is None

    assert LambdaFunction.__dict__["_invoke_lambda"] is original
    assert os.environ._data is backing  # type: ignore[attr-defined]


def test_functions_not_deployed_by_the_dispatcher_keep_motos_behaviour(moto_lambda, probe_code, monkeypatch):
    client, role = moto_lambda
    seen = []

    def moto_own(self, event=None):
        seen.append(self.function_name)
        return json.dumps({"from": "moto"}), False, ""

    real_seam = LambdaFunction.__dict__["_invoke_lambda"]
    monkeypatch.setattr(lambda_dispatch, "_ORIGINAL_INVOKE_LAMBDA", moto_own)
    with LambdaDispatcher():
        client.create_function(
            FunctionName="plain",
            Runtime="python3.13",
            Role=role,
            Handler="x.handler",
            Code={"ZipFile": b"PK"},
        )
        assert _invoke(client, "plain", {}) == ({"from": "moto"}, None)
    assert seen == ["plain"]
    assert LambdaFunction.__dict__["_invoke_lambda"] is real_seam


# --- what the handler sees --------------------------------------------------------------------


def test_handler_runs_in_process_with_its_environment_and_a_lambda_context(moto_lambda, probe_code):
    client, role = moto_lambda
    with LambdaDispatcher() as dispatcher:
        arn = dispatcher.deploy(client, _spec(probe_code, "probe", timeout_s=7), role_arn=role, region=REGION)

        payload, error = _invoke(client, "probe", {"files": ["a", "b"]})

    assert error is None
    assert payload["event"] == {"files": ["a", "b"]}
    assert payload["setting"] == "setting-of-probe"
    assert payload["function_name_env"] == "probe"
    assert payload["region_env"] == REGION
    context = payload["context"]
    assert context["function_name"] == "probe"
    assert context["invoked_function_arn"] == arn
    assert context["memory_limit_in_mb"] == 256
    assert uuid.UUID(context["aws_request_id"])
    assert 6_000 < context["remaining_ms"] <= 7_000
    assert dispatcher.invocations[-1].request_id == context["aws_request_id"]
    # Nothing of the function's environment is left in the process
    assert "PROBE_SETTING" not in os.environ
    assert "AWS_LAMBDA_FUNCTION_NAME" not in os.environ


def test_configuration_changes_through_the_lambda_api_apply_to_the_next_call(moto_lambda, probe_code):
    client, role = moto_lambda
    with LambdaDispatcher() as dispatcher:
        dispatcher.deploy(client, _spec(probe_code, "probe"), role_arn=role, region=REGION)
        client.update_function_configuration(
            FunctionName="probe", Environment={"Variables": {"PROBE_SETTING": "changed"}}
        )

        payload, _ = _invoke(client, "probe", {})

    assert payload["setting"] == "changed"


def test_what_a_handler_changes_in_os_environ_is_discarded(moto_lambda, probe_code):
    client, role = moto_lambda
    with LambdaDispatcher() as dispatcher:
        dispatcher.deploy(client, _spec(probe_code, "probe"), role_arn=role, region=REGION)
        _invoke(client, "probe", {"action": "mutate_env"})

        payload, _ = _invoke(client, "probe", {})

    assert payload["setting"] == "setting-of-probe"
    assert "PROBE_LEAK" not in os.environ


def test_each_function_has_its_own_warm_modules_and_a_new_dispatcher_starts_cold(moto_lambda, probe_code):
    client, role = moto_lambda
    with LambdaDispatcher() as dispatcher:
        for name in ("alpha", "beta"):
            dispatcher.deploy(client, _spec(probe_code, name), role_arn=role, region=REGION)

        alpha = [_invoke(client, "alpha", {})[0] for _ in range(2)]
        beta = _invoke(client, "beta", {})[0]
        # Outside a call, the handler's modules are not in the process
        assert not [name for name in sys.modules if name.startswith("dispatch_probe")]

    # Same code, separate module state: import-time settings and counters are per function
    assert [(p["imported_with"], p["calls"]) for p in alpha] == [
        ("setting-of-alpha", 1),
        ("setting-of-alpha", 2),
    ]
    assert (beta["imported_with"], beta["calls"]) == ("setting-of-beta", 1)

    client.delete_function(FunctionName="alpha")
    with LambdaDispatcher() as dispatcher:
        dispatcher.deploy(client, _spec(probe_code, "alpha"), role_arn=role, region=REGION)
        assert _invoke(client, "alpha", {})[0]["calls"] == 1


def test_a_handler_can_invoke_another_function_synchronously(moto_lambda, probe_code):
    client, role = moto_lambda
    with LambdaDispatcher() as dispatcher:
        for name in ("outer", "inner"):
            dispatcher.deploy(client, _spec(probe_code, name), role_arn=role, region=REGION)

        payload, error = _invoke(client, "outer", {"action": "invoke", "function": "inner"})

    assert error is None
    assert payload["nested"]["setting"] == "setting-of-inner"
    assert payload["setting_after_nested_call"] == "setting-of-outer"


def test_other_threads_can_read_os_environ_while_handlers_run(moto_lambda, probe_code):
    # moto's interpreter threads iterate os.environ (boto3 client creation) during a Map
    client, role = moto_lambda
    failures: list[BaseException] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                dict(os.environ.items())
                assert "PROBE_SETTING" not in os.environ
            except BaseException as error:
                failures.append(error)
                return

    with LambdaDispatcher() as dispatcher:
        dispatcher.deploy(client, _spec(probe_code, "probe"), role_arn=role, region=REGION)
        readers = [threading.Thread(target=reader) for _ in range(2)]
        callers = [
            threading.Thread(target=lambda: [_invoke(client, "probe", {}) for _ in range(10)])
            for _ in range(4)
        ]
        for thread in readers + callers:
            thread.start()
        for thread in callers:
            thread.join()
        stop.set()
        for thread in readers:
            thread.join()

    assert failures == []
    assert len(dispatcher.invocations) == 40
    assert all(i.error_type is None for i in dispatcher.invocations)


# --- errors as Lambda reports them --------------------------------------------------------------


def test_an_exception_becomes_lambdas_error_payload_named_by_its_class(moto_lambda, probe_code):
    client, role = moto_lambda
    with LambdaDispatcher() as dispatcher:
        dispatcher.deploy(client, _spec(probe_code, "probe"), role_arn=role, region=REGION)

        payload, error = _invoke(client, "probe", {"action": "raise"})
        shared_payload, _ = _invoke(client, "probe", {"action": "raise_shared"})

    assert error is not None
    assert payload["errorType"] == "ProbeTerminalError"
    assert payload["errorMessage"] == "the probe failed on purpose"
    assert uuid.UUID(payload["requestId"])
    # The trace starts in the handler, as Lambda shows it (no sandbox frames)
    assert "dispatch_probe/app.py" in payload["stackTrace"][0]
    assert shared_payload["errorType"] == "S3TransientError"
    assert [i.error_type for i in dispatcher.invocations] == ["ProbeTerminalError", "S3TransientError"]


@pytest.mark.parametrize(
    ("spec_overrides", "event", "error_type"),
    [
        ({"handler": "dispatch_probe.missing.handler"}, {}, "Runtime.ImportModuleError"),
        ({"handler": "dispatch_probe.app.absent"}, {}, "Runtime.HandlerNotFound"),
        ({"handler": "handler"}, {}, "Runtime.MalformedHandlerName"),
        ({}, {"action": "not_json"}, "Runtime.MarshalError"),
        ({}, {"action": "exit"}, "Runtime.ExitError"),
        ({"timeout_s": 1}, {"action": "sleep", "seconds": 1.05}, "Sandbox.Timedout"),
    ],
)
def test_runtime_failures_are_reported_like_the_lambda_runtime(
    moto_lambda, probe_code, spec_overrides, event, error_type
):
    client, role = moto_lambda
    with LambdaDispatcher() as dispatcher:
        dispatcher.deploy(client, _spec(probe_code, "probe", **spec_overrides), role_arn=role, region=REGION)

        payload, error = _invoke(client, "probe", event)

    assert error is not None
    assert payload["errorType"] == error_type


def test_decimal_results_are_encoded_as_the_python_runtime_does(moto_lambda, probe_code):
    client, role = moto_lambda
    with LambdaDispatcher() as dispatcher:
        dispatcher.deploy(client, _spec(probe_code, "probe"), role_arn=role, region=REGION)

        payload, error = _invoke(client, "probe", {"action": "decimal"})

    assert (payload, error) == ({"value": 1.5}, None)
