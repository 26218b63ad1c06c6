"""Run moto's Lambda invocations in process, with the real handlers: the sandbox's ONE moto adaptation.

Why: moto's Lambda backend runs function code only in Docker, and the sandbox must run on a
laptop without Docker. Everything else (the Step Functions interpreter, Retry/Catch, the Lambda
API, S3, SNS …) stays moto's own; only the step that would start a container is replaced.

The seam (moto 5.2.5, pinned in pyproject.toml): ``moto.awslambda.models.LambdaFunction.
_invoke_lambda(self, event) -> (payload, errored, logs)``. ``LambdaFunction.invoke`` calls it for
every invocation path (the Invoke API, Step Functions ``lambda:invoke`` and plain-ARN tasks, SNS,
S3 and EventBridge notifications) and turns ``errored`` into the ``X-Amz-Function-Error`` header,
from which Step Functions reads ``errorType``. While a :class:`LambdaDispatcher` is open, functions
it deployed are routed to it; any other function keeps moto's behaviour. ``verify_moto_seam``
fails loudly when moto changes this seam (tests/sandbox/test_lambda_dispatch.py runs it).

What a dispatched invocation looks like to the handler, as on Lambda:

* the module named by ``Handler`` is imported from the function's ``CodeUri`` (plus its layers'
  content), once per function and sandbox world: each function has its own copy of its packages
  and of the layer (``shared``), like its own warm execution environment, and a new world
  imports them afresh;
* in the handler's thread, ``os.environ`` is the process environment plus the function's
  configured variables and the runtime's ``AWS_LAMBDA_*`` variables, read at call time; other
  threads (moto's, the test's) never see them and what the handler changes is discarded.
  Threads the handler starts itself see the process environment (a documented limit);
* the context has ``aws_request_id``, ``function_name``, ``invoked_function_arn``,
  ``memory_limit_in_mb`` and ``get_remaining_time_in_millis`` counting down from ``Timeout``;
* the result is JSON round-tripped; an exception becomes Lambda's error payload
  ``{"errorType": <class name>, "errorMessage", "requestId", "stackTrace"}``, so ASL ``Retry`` and
  ``Catch`` match our exception class names exactly as on AWS.

Handlers run one at a time (a process-wide lock): ``sys.modules`` is process-global, while moto
runs Map iterations in many threads. A handler cannot be pre-empted,
so a timeout is reported when the call returns (``Sandbox.Timedout``), as Lambda would report it.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Final, Self

import moto
from moto.awslambda.models import LambdaFunction

from sandbox.template import FunctionSpec

PINNED_MOTO_VERSION: Final = "5.2.5"
MAX_RESPONSE_BYTES: Final = 6 * 1024 * 1024
"""Lambda's synchronous response limit."""

Handler = Callable[[Any, Any], Any]
InvokeResult = tuple[str, bool, str]


class MotoSeamChangedError(RuntimeError):
    """moto no longer has the seam this module was written against: re-check before upgrading."""


def verify_moto_seam() -> None:
    """Fail loudly unless moto's ``_invoke_lambda`` seam is the one described in this docstring."""
    problems: list[str] = []
    if moto.__version__ != PINNED_MOTO_VERSION:
        problems.append(
            f"moto {moto.__version__} is installed, the dispatch is pinned to {PINNED_MOTO_VERSION}"
        )
    seam = _ORIGINAL_INVOKE_LAMBDA
    parameters = list(inspect.signature(seam).parameters)
    if parameters != ["self", "event"]:
        problems.append(f"LambdaFunction._invoke_lambda{inspect.signature(seam)} is not (self, event)")
    invoke_source = inspect.getsource(LambdaFunction.invoke)
    for needle in ("self._invoke_lambda(event=body)", "x-amz-function-error"):
        if needle not in invoke_source:
            problems.append(f"LambdaFunction.invoke no longer contains {needle!r}")
    class_source = inspect.getsource(LambdaFunction)
    for attribute in _FUNCTION_ATTRIBUTES:
        if f"self.{attribute} =" not in class_source:
            problems.append(f"LambdaFunction no longer sets self.{attribute}")
    if problems:
        raise MotoSeamChangedError("; ".join(problems))


_ORIGINAL_INVOKE_LAMBDA: Final = LambdaFunction._invoke_lambda
_FUNCTION_ATTRIBUTES: Final = (
    "account_id",
    "region",
    "function_name",
    "function_arn",
    "environment_vars",
    "timeout",
    "memory_size",
)

_routes: dict[tuple[str, str, str], LambdaDispatcher] = {}
_routes_lock: Final = threading.Lock()
_open_dispatchers = 0
_handler_lock: Final = threading.RLock()
"""One handler at a time (re-entrant: a handler may invoke another function synchronously)."""


def _dispatching_invoke_lambda(self: LambdaFunction, event: Any = None) -> InvokeResult:
    dispatcher = _routes.get((self.account_id, self.region, self.function_name))
    if dispatcher is None:
        result: InvokeResult = _ORIGINAL_INVOKE_LAMBDA(self, event)
        return result
    return dispatcher.invoke(self, event)


_replaced_seam: Any = None


def _install() -> None:
    global _open_dispatchers, _replaced_seam  # noqa: PLW0603 - one patch per process, counted
    with _routes_lock:
        if _open_dispatchers == 0:
            verify_moto_seam()
            _replaced_seam = LambdaFunction.__dict__["_invoke_lambda"]
            LambdaFunction._invoke_lambda = _dispatching_invoke_lambda  # type: ignore[method-assign]
            _install_environ()
        _open_dispatchers += 1


def _uninstall() -> None:
    global _open_dispatchers, _replaced_seam  # noqa: PLW0603
    with _routes_lock:
        _open_dispatchers -= 1
        if _open_dispatchers == 0:
            LambdaFunction._invoke_lambda = _replaced_seam  # type: ignore[method-assign]
            _replaced_seam = None
            _uninstall_environ()


# --- what the handler sees ------------------------------------------------------------------


@dataclass
class LambdaContext:
    """The Lambda context object's attributes that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Invocation:
    """One dispatched invocation, for tests and the CLI to inspect."""

    function_name: str
    request_id: str
    event: Any
    duration_s: float
    error_type: str | None = None
    error_message: str | None = None


class _RuntimeFailure(Exception):
    """A failure the Lambda runtime itself reports (import error, bad result …), not the handler."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _lambda_json_default(value: Any) -> Any:
    # The Python runtime's encoder accepts Decimal (DynamoDB numbers) and nothing else extra.
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error_payload(error_type: str, message: str, request_id: str, tb: TracebackType | None) -> str:
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": traceback.format_list(_handler_frames(tb)) if tb else [],
        }
    )


def _handler_frames(tb: TracebackType) -> list[traceback.FrameSummary]:
    """The traceback from the handler down, as Lambda shows it (without this module's frames)."""
    frames = traceback.extract_tb(tb)
    while frames and frames[0].filename == __file__:
        frames.pop(0)
    return list(frames)


class _PerThreadEnviron(MutableMapping[Any, Any]):
    """What ``os.environ`` reads while a dispatcher is open: per thread, like separate processes.

    A thread running a handler sees its function's environment; every other thread (moto's
    interpreter, the test) sees the process environment, unchanged. Changing the one global
    mapping instead would race with moto's threads, which iterate ``os.environ`` whenever they
    create a boto3 client (``urllib.request.getproxies_environment``): a key removed between
    their listing and their read raises KeyError inside the interpreter.
    """

    def __init__(self, process: MutableMapping[Any, Any]) -> None:
        self.process = process
        self._local = threading.local()

    def _current(self) -> MutableMapping[Any, Any]:
        view: MutableMapping[Any, Any] | None = getattr(self._local, "view", None)
        return self.process if view is None else view

    def __getitem__(self, key: Any) -> Any:
        return self._current()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._current()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._current()[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    @contextmanager
    def thread_view(self, values: Mapping[str, str]) -> Iterator[None]:
        """This thread sees the current environment plus ``values`` until the block exits."""
        environ: Any = os.environ
        previous = getattr(self._local, "view", None)
        view = dict(self._current())
        view.update({environ.encodekey(key): environ.encodevalue(value) for key, value in values.items()})
        self._local.view = view
        try:
            yield
        finally:
            self._local.view = previous


_environ: _PerThreadEnviron | None = None


def _install_environ() -> None:
    global _environ  # noqa: PLW0603 - os.environ has one backing mapping per process
    environ: Any = os.environ
    _environ = _PerThreadEnviron(environ._data)
    environ._data = _environ
    if hasattr(os, "environb"):
        environb: Any = os.environb  # shares the mapping of os.environ on POSIX
        environb._data = _environ


def _uninstall_environ() -> None:
    global _environ  # noqa: PLW0603
    if _environ is not None:
        environ: Any = os.environ
        environ._data = _environ.process
        if hasattr(os, "environb"):
            environb: Any = os.environb
            environb._data = _environ.process
    _environ = None


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """The function's environment in this thread for the duration of the call."""
    if _environ is None:  # pragma: no cover - only reachable if the seam is bypassed
        raise RuntimeError("no LambdaDispatcher is open")
    with _environ.thread_view(values):
        yield


def _top_level_names(directory: Path) -> set[str]:
    names = set()
    for child in directory.iterdir():
        if child.is_dir() and child.name.isidentifier():
            names.add(child.name)
        elif child.suffix == ".py" and child.stem.isidentifier():
            names.add(child.stem)
    return names


def _import_roots(spec: FunctionSpec) -> tuple[list[Path], frozenset[str]]:
    """``sys.path`` entries (code first, then layers, as /var/task precedes /opt/python) and packages."""
    roots = [spec.code_dir]
    packages = _top_level_names(spec.code_dir)
    for layer in spec.layer_dirs:
        if (layer / "__init__.py").is_file():
            # ContentUri is the package itself (`ContentUri: ../shared`).
            roots.append(layer.parent)
            packages.add(layer.name)
        else:
            root = layer / "python" if (layer / "python").is_dir() else layer
            roots.append(root)
            packages |= _top_level_names(root)
    return roots, frozenset(packages)


def _take_modules(packages: frozenset[str]) -> dict[str, ModuleType]:
    """Remove the modules of ``packages`` from ``sys.modules`` and return them."""
    taken = {name: module for name, module in list(sys.modules.items()) if name.split(".", 1)[0] in packages}
    for name in taken:
        del sys.modules[name]
    return taken


class _FunctionProcess:
    """A function's own module namespace: what a warm execution environment would keep."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.roots, self.packages = _import_roots(spec)
        self.modules: dict[str, ModuleType] = {}
        self.handler: Handler | None = None

    @contextmanager
    def active(self) -> Iterator[None]:
        outside = _take_modules(self.packages)
        sys.modules.update(self.modules)
        # Replaced whole, like os.environ, for the importers of other threads.
        path_before = sys.path
        sys.path = [*map(str, self.roots), *path_before]
        try:
            yield
        finally:
            sys.path = path_before
            self.modules = _take_modules(self.packages)
            sys.modules.update(outside)

    def load_handler(self) -> Handler:
        if self.handler is None:
            module_name, _, attribute = self.spec.handler.rpartition(".")
            if not module_name:
                raise _RuntimeFailure("Runtime.MalformedHandlerName", f"Bad handler '{self.spec.handler}'")
            importlib.invalidate_caches()
            try:
                module = importlib.import_module(module_name)
            except ImportError as error:
                raise _RuntimeFailure(
                    "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}"
                ) from error
            handler = getattr(module, attribute, None)
            if not callable(handler):
                raise _RuntimeFailure(
                    "Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'"
                )
            self.handler = handler
        return self.handler


class LambdaDispatcher:
    """Deploys functions into moto's Lambda and runs their invocations in process while open."""

    def __init__(self) -> None:
        self._processes: dict[tuple[str, str, str], _FunctionProcess] = {}
        self._open = False
        self.invocations: list[Invocation] = []

    def __enter__(self) -> Self:
        _install()
        self._open = True
        with _routes_lock:
            for key in self._processes:
                _routes[key] = self
        return self

    def __exit__(self, *exc_info: object) -> None:
        with _routes_lock:
            for key in self._processes:
                if _routes.get(key) is self:
                    del _routes[key]
        self._open = False
        self._processes.clear()  # the next world imports handler modules afresh
        _uninstall()

    def deploy(self, lambda_client: Any, spec: FunctionSpec, *, role_arn: str, region: str) -> str:
        """Create ``spec`` in moto's Lambda and route its invocations here; returns the ARN."""
        response = lambda_client.create_function(
            FunctionName=spec.function_name,
            Runtime=spec.runtime,
            Role=role_arn,
            Handler=spec.handler,
            Code={"ZipFile": _package_pointing_at_code_dir(spec)},
            Timeout=spec.timeout_s,
            MemorySize=spec.memory_mb,
            Environment={"Variables": dict(spec.environment)},
        )
        account_id = response["FunctionArn"].split(":")[4]
        key = (account_id, region, spec.function_name)
        self._processes[key] = _FunctionProcess(spec)
        if self._open:
            with _routes_lock:
                _routes[key] = self
        return str(response["FunctionArn"])

    def invoke(self, function: LambdaFunction, event: Any) -> InvokeResult:
        """Run one invocation of ``function`` (called by moto through the seam)."""
        process = self._processes[(function.account_id, function.region, function.function_name)]
        with _handler_lock:
            # The clock starts when the handler may run: waiting for the lock stands for
            # concurrency Lambda would have, not for time the function spent.
            request_id = str(uuid.uuid4())
            timeout_s = float(function.timeout)
            started = time.monotonic()
            context = LambdaContext(
                function_name=function.function_name,
                invoked_function_arn=function.function_arn,
                memory_limit_in_mb=int(function.memory_size),
                aws_request_id=request_id,
                log_group_name=f"/aws/lambda/{function.function_name}",
                log_stream_name=f"sandbox/[$LATEST]{request_id.replace('-', '')}",
                deadline=started + timeout_s,
            )
            environment = self._runtime_environment(function, process.spec, context)
            with _environment(environment), process.active():
                payload, error = _call(process, event, context)
            duration = time.monotonic() - started
            if duration > timeout_s:
                error = (
                    "Sandbox.Timedout",
                    f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds",
                )
                payload = _error_payload(*error, request_id, None)
            self.invocations.append(
                Invocation(
                    function_name=function.function_name,
                    request_id=request_id,
                    event=event,
                    duration_s=duration,
                    error_type=error[0] if error else None,
                    error_message=error[1] if error else None,
                )
            )
        return payload, error is not None, ""

    @staticmethod
    def _runtime_environment(
        function: LambdaFunction, spec: FunctionSpec, context: LambdaContext
    ) -> dict[str, str]:
        runtime = {
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": context.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": context.log_stream_name,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_REGION": function.region,
            "AWS_DEFAULT_REGION": function.region,
            "_HANDLER": spec.handler,
        }
        # The function's own variables win, as Lambda lets them (except reserved ones it forbids).
        return runtime | {str(key): str(value) for key, value in (function.environment_vars or {}).items()}


def _call(
    process: _FunctionProcess, event: Any, context: LambdaContext
) -> tuple[str, tuple[str, str] | None]:
    """The handler's JSON result, or Lambda's error payload and ``(errorType, errorMessage)``."""
    request_id = context.aws_request_id
    error: tuple[str, str]
    try:
        result = process.load_handler()(event, context)
    except _RuntimeFailure as failure:
        error = (failure.error_type, str(failure))
        return _error_payload(*error, request_id, failure.__traceback__), error
    except SystemExit as failure:
        error = ("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited ({failure.code})")
        return _error_payload(*error, request_id, failure.__traceback__), error
    except Exception as failure:  # every handler exception goes back to the caller, by class name
        error = (type(failure).__name__, str(failure))
        return _error_payload(*error, request_id, failure.__traceback__), error
    try:
        payload = json.dumps(result, default=_lambda_json_default)
    except (TypeError, ValueError) as failure:
        error = ("Runtime.MarshalError", f"Unable to marshal response: {failure}")
        return _error_payload(*error, request_id, None), error
    if len(payload.encode()) > MAX_RESPONSE_BYTES:
        error = (
            "Function.ResponseSizeTooLarge",
            f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
        )
        return _error_payload(*error, request_id, None), error
    return payload, None


def _package_pointing_at_code_dir(spec: FunctionSpec) -> bytes:
    """moto's CreateFunction needs a package; the code really runs from ``spec.code_dir``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("SANDBOX.txt", f"{spec.handler} runs in process from {spec.code_dir}\n")
    return buffer.getvalue()


__all__ = [
    "PINNED_MOTO_VERSION",
    "Invocation",
    "LambdaContext",
    "LambdaDispatcher",
    "MotoSeamChangedError",
    "verify_moto_seam",
]
