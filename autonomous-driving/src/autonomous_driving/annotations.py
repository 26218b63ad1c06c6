"""The run's COCO annotations, from whichever path answered: prediction parts or Batch Transform output.

* Synchronous paths wrote ``inference/predictions/part-*.jsonl`` (detections already parsed);
* Batch Transform wrote one ``<key>.out`` per frame under the job's output URI (SageMaker keeps
  the key's path relative to the manifest prefix; a flat ``<file name>.out`` is also looked for),
  each holding the model's answer, parsed here with the same contract.

Frame sizes come from the run's QC records (the frames that passed), so COCO ``images`` carry
width and height without reading a frame again. Writes ``annotations/coco.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from autonomous_driving.catalogue import Kind
from autonomous_driving.coco import build_coco
from autonomous_driving.detections import Detection, parse_model_output
from autonomous_driving.frame_inference import PREDICTIONS_PREFIX, labels_from
from shared.batch import iter_results
from shared.errors import InvalidInputError, PatternError, S3AccessError, S3TransientError
from shared.routing import InferencePath
from shared.s3ap import OutputLocation, S3Client, default_s3_client, iter_run_jsonl, write_json

COCO_NAME: Final = "annotations/coco.json"


@dataclass(frozen=True)
class AnnotationSettings:
    output: OutputLocation
    labels: tuple[str, ...]
    min_score: float
    model: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AnnotationSettings:
        if not environ.get("OUTPUT_BUCKET"):
            raise InvalidInputError("OUTPUT_BUCKET", "is not set")
        try:
            min_score = float(environ.get("MIN_DETECTION_SCORE", "0") or 0)
        except ValueError:
            raise InvalidInputError("MIN_DETECTION_SCORE", "expected a number") from None
        return cls(
            output=OutputLocation(environ["OUTPUT_BUCKET"], environ.get("OUTPUT_PREFIX", "")),
            labels=labels_from(environ.get("MODEL_LABELS", "")),
            min_score=min_score,
            model=environ.get("MODEL_DESCRIPTION", "") or "the model",
        )


def _frame_sizes(output: OutputLocation, run_id: str, s3: S3Client | None) -> dict[str, tuple[int, int]]:
    sizes = {}
    for record in iter_results(output, run_id, s3=s3):
        if record.get("kind") == Kind.CAMERA and record.get("verdict") == "PASS":
            metadata = record.get("metadata", {})
            sizes[str(record["key"])] = (int(metadata["width"]), int(metadata["height"]))
    return sizes


def _split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise InvalidInputError("output_uri", f"expected s3://bucket/prefix/, got {uri!r}")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def _read_output(client: S3Client, bucket: str, keys: tuple[str, ...]) -> bytes | None:
    for key in keys:
        try:
            data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            return data
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                continue
            if code in ("SlowDown", "InternalError", "ServiceUnavailable") or str(code).startswith("5"):
                raise S3TransientError(f"s3://{bucket}/{key}: {code}") from error
            raise S3AccessError(f"s3://{bucket}/{key}: {code}") from error
        except BotoCoreError as error:
            raise S3TransientError(f"s3://{bucket}/{key}: {error}") from error
    return None


def build_annotations(
    settings: AnnotationSettings, run_id: str, inference: Mapping[str, Any], *, s3: S3Client | None = None
) -> dict[str, Any]:
    """Collect the run's detections, write the COCO file, return counts and its location."""
    sizes = _frame_sizes(settings.output, run_id, s3)
    detections: dict[str, list[Detection]] = {}
    errors: dict[str, str] = {}
    path = str(inference.get("path", ""))
    if path == InferencePath.BATCH_TRANSFORM:
        bucket, prefix = _split_uri(str(inference.get("output_uri", "")))
        client = s3 if s3 is not None else default_s3_client()
        for key, (width, height) in sizes.items():
            body = _read_output(
                client, bucket, (f"{prefix}{key}.out", f"{prefix}{key.rsplit('/', 1)[-1]}.out")
            )
            if body is None:
                errors[key] = "no Batch Transform output"
                continue
            try:
                detections[key] = parse_model_output(
                    body, width=width, height=height, labels=settings.labels, min_score=settings.min_score
                )
            except PatternError as error:
                errors[key] = error.message
    else:
        for line in iter_run_jsonl(settings.output, run_id, PREDICTIONS_PREFIX, s3=s3):
            key = str(line.get("key"))
            if line.get("status") == "ok" and "error" not in line:
                detections[key] = [Detection.from_dict(item) for item in line.get("detections", ())]
            else:
                errors[key] = str(line.get("message", line.get("error", "error")))
    images = [(key, width, height) for key, (width, height) in sizes.items()]
    document = build_coco(images, detections, labels=settings.labels, run_id=run_id, model=settings.model)
    written = write_json(settings.output, run_id, COCO_NAME, document, s3=s3)
    return {
        "coco": written.to_dict(),
        "path": path,
        "images": len(document["images"]),
        "annotations": len(document["annotations"]),
        "categories": len(document["categories"]),
        "frames_with_detections": sum(1 for found in detections.values() if found),
        "frames_without_predictions": len(sizes) - len(detections),
        "errors": len(errors),
        "error_samples": dict(sorted(errors.items())[:10]),
    }
