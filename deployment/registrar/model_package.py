"""Turn a completed training job into a CreateModelPackage request: pure functions, no AWS calls."""

from __future__ import annotations

import hashlib
import json
import math
import re
import tarfile
from typing import IO, Any

from approval_gate import GATE_METRIC

#: Where training/train.py writes its evaluation report inside model.tar.gz: the flat `name -> value`
#: metrics it printed are under "metrics" (a plain Trainer `save_metrics` file has them at the top level).
EVAL_RESULTS_MEMBER = "eval_results.json"
METRICS_REPORT_NAME = "evaluation/metrics.json"
#: CustomerMetadataProperties accept only these characters, up to 128 (keys) / 256 (values).
METADATA_UNSAFE = re.compile(r"[^\w\s.:/=+\-@]")


def metrics_from_final_metric_data(final_metric_data: list[dict[str, Any]]) -> dict[str, float]:
    """SageMaker's FinalMetricDataList (one value per MetricDefinition) as {name: value}."""
    return {
        item["MetricName"]: float(item["Value"])
        for item in final_metric_data
        if isinstance(item.get("Value"), int | float) and math.isfinite(item["Value"])
    }


def metrics_from_eval_results(document: bytes) -> dict[str, float]:
    """eval_results.json as {name: value}, numbers only."""
    content = json.loads(document)
    if not isinstance(content, dict):
        raise ValueError(f"{EVAL_RESULTS_MEMBER} is not a JSON object")
    if isinstance(content.get("metrics"), dict):
        content = content["metrics"]
    return {
        name: float(value)
        for name, value in content.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def read_tar_member(stream: IO[bytes], member_name: str) -> bytes | None:
    """Stream a .tar.gz (e.g. an S3 body) until `member_name`; never holds the whole archive."""
    with tarfile.open(fileobj=stream, mode="r|gz") as archive:
        for member in archive:
            if member.isfile() and member.name.removeprefix("./") == member_name:
                extracted = archive.extractfile(member)
                return extracted.read() if extracted else None
    return None


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/key` -> ("bucket", "some/key")."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI (expected s3://bucket/key): {uri!r}")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def client_token(training_job_name: str) -> str:
    """CreateModelPackage idempotency token: a redelivered event registers the job once."""
    return hashlib.sha256(training_job_name.encode()).hexdigest()[:32]


def dataset_uri(training_job: dict[str, Any]) -> str | None:
    """The dataset folder the job trained on (its train channel's parent prefix)."""
    for channel in training_job.get("InputDataConfig", []):
        if channel["ChannelName"] == "train":
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            return uri.rsplit("/", 1)[0] + "/"
    return None


def metrics_report_key(training_job_name: str) -> str:
    return f"training-jobs/{training_job_name}/{METRICS_REPORT_NAME}"


def metrics_report(training_job: dict[str, Any], metrics: dict[str, float], source: str) -> bytes:
    """The JSON that ModelMetrics.ModelQuality.Statistics points at (shown in SageMaker Studio)."""
    return json.dumps(
        {
            "training_job_name": training_job["TrainingJobName"],
            "metrics_source": source,
            "multilabel_classification_metrics": {
                name: {"value": value} for name, value in sorted(metrics.items())
            },
        },
        indent=2,
    ).encode()


def _decoded_hyperparameter(value: str) -> str:
    """Hyperparameters are JSON-encoded strings (as the SageMaker SDK sends them); plain text otherwise."""
    try:
        return str(json.loads(value))
    except json.JSONDecodeError:
        return value


def _metadata_value(value: str) -> str:
    return METADATA_UNSAFE.sub("_", value)[:256]


def customer_metadata(training_job: dict[str, Any], metrics: dict[str, float], source: str) -> dict[str, str]:
    """Searchable key facts of the package: the job, its data, and every metric (the gate reads these)."""
    metadata = {
        "training_job_name": training_job["TrainingJobName"],
        "metrics_source": source,
        "instance_type": training_job.get("ResourceConfig", {}).get("InstanceType", ""),
    }
    dataset = dataset_uri(training_job)
    if dataset:
        metadata["dataset"] = dataset
    base_model = training_job.get("HyperParameters", {}).get("model_name_or_path")
    if base_model:
        metadata["base_model"] = _decoded_hyperparameter(base_model)
    metadata.update({name: f"{value:.6g}" for name, value in metrics.items()})
    return {METADATA_UNSAFE.sub("_", k)[:128]: _metadata_value(str(v)) for k, v in metadata.items() if v}


def build_create_model_package_request(
    training_job: dict[str, Any],
    group_name: str,
    inference_image_uri: str,
    metrics: dict[str, float],
    metrics_source: str,
    metrics_report_uri: str,
    approved: bool,
) -> dict[str, Any]:
    """Register the job's model.tar.gz, Approved or PendingManualApproval as the gate decided."""
    job_name = training_job["TrainingJobName"]
    dataset = dataset_uri(training_job) or "unknown data"
    return {
        "ModelPackageGroupName": group_name,
        "ModelPackageDescription": f"Training job {job_name} on {dataset}"[:1024],
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": inference_image_uri,
                    "ModelDataUrl": training_job["ModelArtifacts"]["S3ModelArtifacts"],
                }
            ],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        "ModelApprovalStatus": "Approved" if approved else "PendingManualApproval",
        "MetadataProperties": {"GeneratedBy": training_job["TrainingJobArn"]},
        "ModelMetrics": {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics_report_uri}}
        },
        "CustomerMetadataProperties": customer_metadata(training_job, metrics, metrics_source),
        "Domain": "NATURAL_LANGUAGE_PROCESSING",
        "Task": "CLASSIFICATION",
        "ClientToken": client_token(job_name),
    }


def gate_metric(metrics: dict[str, float]) -> float | None:
    return metrics.get(GATE_METRIC)
