"""After a SnapStart restore, cached clients, pools and the random state are re-created."""

from __future__ import annotations

import importlib
import random
import sys
import types

import pytest

from shared import ontap_client, s3ap, snapstart
from shared.ontap_client import OntapSettings


def test_a_restored_process_recreates_its_s3_client() -> None:
    s3ap.default_s3_client.cache_clear()
    before = s3ap.default_s3_client()
    assert s3ap.default_s3_client() is before  # warm invocations reuse it

    snapstart.run_after_restore_hooks()

    assert s3ap.default_s3_client() is not before


def test_a_restored_process_closes_and_recreates_its_ontap_clients() -> None:
    settings = OntapSettings(endpoint="10.0.0.5", secret_id="ontap/fsxadmin")
    before = ontap_client.client_for(settings)
    assert ontap_client.client_for(settings) is before
    closed: list[bool] = []
    before.close = lambda: closed.append(True)  # type: ignore[method-assign]

    snapstart.run_after_restore_hooks()

    assert closed == [True]
    after = ontap_client.client_for(settings)
    assert after is not before
    after.close()


def test_each_restored_environment_draws_its_own_random_sequence() -> None:
    random.seed(1234)  # the state a snapshot would freeze
    frozen = random.random()
    random.seed(1234)

    snapstart.run_after_restore_hooks()

    assert random.random() != frozen


def test_the_dispatcher_is_registered_with_the_runtime_library_when_present(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registered: list[object] = []
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_after_restore = registered.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    monkeypatch.delitem(sys.modules, "shared.snapstart")
    # Restored at teardown, so the rest of the session keeps the registry the modules use.
    monkeypatch.setattr(sys.modules["shared"], "snapstart", snapstart)

    fresh = importlib.import_module("shared.snapstart")

    assert registered == [fresh.run_after_restore_hooks]
