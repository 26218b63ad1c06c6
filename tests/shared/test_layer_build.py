"""The layer that `sam build` produces (BuildMethod: makefile) holds the package and nothing else of ours."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT / "shared"


@pytest.fixture(scope="module")
def built_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    artifacts = tmp_path_factory.mktemp("layer")
    # Given the Makefile target SAM runs for the layer, with this interpreter's pip
    subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(SHARED),
            "build-SharedLayer",
            f"ARTIFACTS_DIR={artifacts}",
            f"PYTHON={sys.executable}",
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    return artifacts


def test_layer_holds_the_package_under_python(built_layer: Path) -> None:
    assert (built_layer / "python" / "shared" / "__init__.py").is_file()
    assert (built_layer / "python" / "shared" / "errors.py").is_file()
    assert (built_layer / "python" / "aws_lambda_powertools").is_dir()


def test_layer_holds_no_tests_templates_or_nested_functions(built_layer: Path) -> None:
    package = built_layer / "python" / "shared"
    for unwanted in ("tests", "cfn", "functions", "Makefile", "requirements.txt"):
        assert not (package / unwanted).exists(), unwanted


def test_layer_does_not_shadow_the_runtime_sdk(built_layer: Path) -> None:
    # boto3/botocore come from the Lambda runtime; a second copy would mismatch its boto3.
    for sdk in ("boto3", "botocore", "s3transfer"):
        assert not (built_layer / "python" / sdk).exists(), sdk


def test_layer_wheels_are_for_python313_linux(built_layer: Path) -> None:
    wrapt_binaries = list((built_layer / "python" / "wrapt").glob("*.so"))
    assert wrapt_binaries and all("cpython-313-x86_64-linux-gnu" in so.name for so in wrapt_binaries)


def test_layer_pins_match_the_test_environment() -> None:
    # Tests must exercise the versions that ship.
    pins = dict(
        re.findall(r"^([A-Za-z0-9_.-]+)==([^\s]+)", (SHARED / "requirements.txt").read_text(), re.MULTILINE)
    )
    assert pins
    for name, version in pins.items():
        assert importlib.metadata.version(name) == version, name
