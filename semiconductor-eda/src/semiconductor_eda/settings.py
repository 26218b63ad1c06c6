"""Settings of the semiconductor-eda functions: one object per handler, read once from the environment.

Variables (set by template.yaml):

================================  ===============================================================
``ACCESS_POINT``                  the volume's S3 Access Point alias or ARN (layouts, rules files)
``OUTPUT_BUCKET``/``OUTPUT_PREFIX`` where ``runs/<run_id>/`` outputs go
``SCAN_MODE``                     ``full`` (default: everything, streamed) or ``header`` (≤ 64 KiB)
``REVIEW_RULES``                  rules document (JSON) overriding the defaults of :mod:`review`
``REVIEW_RULES_KEY``              a rules JSON file on the volume (wins over ``REVIEW_RULES``)
``ALLOWED_LAYERS``                ``1/0,2/0-3,10/*``: the allowed layer map as a parameter
``LAYER_MAP_KEY``                 a layer-map file on the volume (wins over ``ALLOWED_LAYERS``)
``TOP_CELL_PATTERN``              regex naming the intended top cell(s)
``DIE_MAX_WIDTH_UM``/``_HEIGHT_UM`` die-size limit in µm (0 or empty: no limit)
``NARRATIVE_MODEL_ID``            Bedrock model for the optional narrative (empty: off)
================================  ===============================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from semiconductor_eda.layout import Mode
from shared.errors import InvalidInputError
from shared.s3ap import AccessPoint, OutputLocation
from shared.settings import required

_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{2,199}")


def _output(environ: Mapping[str, str]) -> OutputLocation:
    return OutputLocation(required(environ, "OUTPUT_BUCKET"), environ.get("OUTPUT_PREFIX", ""))


def _size(environ: Mapping[str, str], name: str) -> float | None:
    raw = environ.get(name, "").strip()
    if raw in ("", "0"):
        return None
    try:
        value = float(raw)
    except ValueError as error:
        raise InvalidInputError(name, f"expected a number of micrometres, got {raw!r}") from error
    if not value > 0:
        raise InvalidInputError(name, f"expected a positive number, got {raw!r}")
    return value


@dataclass(frozen=True)
class ExtractSettings:
    """ExtractMetadataFunction: where the layouts are, how deep to read, where records go."""

    access_point: AccessPoint
    output: OutputLocation
    mode: Mode = "full"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ExtractSettings:
        mode = environ.get("SCAN_MODE", "full")
        if mode not in ("full", "header"):
            raise InvalidInputError("SCAN_MODE", f"expected full or header, got {mode!r}")
        scan_mode: Literal["full", "header"] = "full" if mode == "full" else "header"
        return cls(AccessPoint.parse(required(environ, "ACCESS_POINT")), _output(environ), scan_mode)


@dataclass(frozen=True)
class ReportSettings:
    """ReviewAndReportFunction: outputs, review rules and their sources, the optional narrative."""

    access_point: AccessPoint
    output: OutputLocation
    rules: str = ""
    rules_key: str = ""
    allowed_layers: str = ""
    layer_map_key: str = ""
    top_cell_pattern: str = ""
    die_max_width_um: float | None = None
    die_max_height_um: float | None = None
    narrative_model_id: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ReportSettings:
        model = environ.get("NARRATIVE_MODEL_ID", "").strip()
        if model and not _MODEL_ID.fullmatch(model):
            raise InvalidInputError("NARRATIVE_MODEL_ID", f"not a Bedrock model id: {model!r}")
        return cls(
            access_point=AccessPoint.parse(required(environ, "ACCESS_POINT")),
            output=_output(environ),
            rules=environ.get("REVIEW_RULES", ""),
            rules_key=environ.get("REVIEW_RULES_KEY", "").strip(),
            allowed_layers=environ.get("ALLOWED_LAYERS", "").strip(),
            layer_map_key=environ.get("LAYER_MAP_KEY", "").strip(),
            top_cell_pattern=environ.get("TOP_CELL_PATTERN", "").strip(),
            die_max_width_um=_size(environ, "DIE_MAX_WIDTH_UM"),
            die_max_height_um=_size(environ, "DIE_MAX_HEIGHT_UM"),
            narrative_model_id=model,
        )
