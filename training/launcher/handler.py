"""Training-job launcher Lambda: a dataset manifest upload (or a direct job request) -> one SageMaker job.

Triggers:
- EventBridge "Object Created" for `datasets/<dataset>/<version>/manifest.json` in the datasets bucket.
  The manifest is uploaded last, so one dataset upload starts one job however its files arrived.
- Direct invocation with a JSON job request (the ops CLI): `{"dataset": ..., "version": ...}` or
  `{"dataset_uri": "s3://..."}` plus any manifest field, overriding the dataset's manifest.

Flow: parse + validate (job_request) -> check the data with ranged GETs (dataset_check) -> build the
CreateTrainingJob request (training_job) -> call SageMaker. A bad dataset gets `_rejected.json` next to the
data and an SNS notification; the data files themselves are only ever read.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from dataset_check import (
    HEAD_RANGE,
    DataObject,
    SplitFile,
    column_problems,
    ignored_objects,
    parse_label_names,
    required_columns,
    select_split_files,
)
from job_request import (
    LOCATION_FIELDS,
    MANIFEST_NAME,
    REJECTION_NAME,
    DatasetLocation,
    InvalidRequest,
    JobOptions,
    location_from_manifest_key,
    location_from_request,
    merge_request_into_manifest,
    parse_options,
)
from launcher_config import LauncherConfig
from mlops_common.aws import aws_clients, describe_or_none
from mlops_common.notifications import notify
from training_job import build_create_training_job_request, resolve_job, training_job_name

logger = logging.getLogger()
logger.setLevel(logging.INFO)

#: A manifest is a small JSON document; refuse to read anything bigger.
MAX_MANIFEST_BYTES = 1024 * 1024
#: SageMaker errors that retrying cannot fix: reported to the uploader instead of retried.
PERMANENT_SAGEMAKER_ERRORS = ("ValidationException", "ResourceLimitExceeded")


def _clients(region: str) -> dict[str, Any]:
    return aws_clients(region, ("s3", "sagemaker", "sns"))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = LauncherConfig.from_environ(os.environ)
    return handle(event, config, _clients(config.region))


def handle(event: dict[str, Any], config: LauncherConfig, aws: dict[str, Any]) -> dict[str, Any]:
    """Route an S3 event or a direct request; returns what happened (status + details)."""
    if "detail-type" not in event:
        return _handle_job_request(event, config, aws)
    if event.get("source") == "aws.s3":
        return _handle_manifest_upload(event, config, aws)
    return {
        "status": "ignored",
        "reason": f"unexpected event {event.get('source')}/{event.get('detail-type')}",
    }


def _handle_manifest_upload(
    event: dict[str, Any], config: LauncherConfig, aws: dict[str, Any]
) -> dict[str, Any]:
    detail = event.get("detail") or {}
    bucket = (detail.get("bucket") or {}).get("name")
    s3_object = detail.get("object") or {}
    key = s3_object.get("key", "")
    if bucket != config.datasets_bucket or not key.endswith(MANIFEST_NAME):
        logger.info("Ignoring s3://%s/%s: not a manifest in the datasets bucket", bucket, key)
        return {"status": "ignored", "reason": f"s3://{bucket}/{key} is not a dataset manifest"}
    # Redelivered events carry the same version id / sequencer, so they map to the same job name.
    trigger_id = (
        f"upload:{s3_object.get('version-id') or s3_object.get('sequencer') or s3_object.get('etag')}"
    )
    try:
        location = location_from_manifest_key(bucket, key)
    except InvalidRequest as error:
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        return _reject(aws, config, bucket, folder, key, error.problems, trigger_id)
    try:
        options = parse_options(_read_manifest(aws["s3"], location, required=True), MANIFEST_NAME)
    except InvalidRequest as error:
        return _reject(aws, config, bucket, location.prefix, key, error.problems, trigger_id)
    return _launch(aws, config, location, options, trigger_id, source=key)


def _handle_job_request(
    request: dict[str, Any], config: LauncherConfig, aws: dict[str, Any]
) -> dict[str, Any]:
    try:
        if not isinstance(request, dict):
            raise InvalidRequest([f"the job request must be a JSON object, got {type(request).__name__}"])
        location = location_from_request(request, config.datasets_bucket)
        manifest = _read_manifest(aws["s3"], location, required=False)
        options = parse_options(
            merge_request_into_manifest(manifest, request), "the job request", allowed_extra=LOCATION_FIELDS
        )
    except InvalidRequest as error:
        return {"status": "invalid_request", "errors": error.problems}
    return _launch(aws, config, location, options, "request", source="job request")


def _launch(
    aws: dict[str, Any],
    config: LauncherConfig,
    location: DatasetLocation,
    options: JobOptions,
    trigger_id: str,
    source: str,
) -> dict[str, Any]:
    try:
        job = resolve_job(options, config)
    except InvalidRequest as error:
        return _reject(aws, config, location.bucket, location.prefix, source, error.problems, trigger_id)
    objects = _list_objects(aws["s3"], location)
    files, problems = select_split_files(objects, location.prefix, job.label_names_file)
    columns = required_columns(job.text_columns, job.label_column, job.multi_hot_label_columns)
    problems += _content_problems(aws["s3"], location, files, columns)
    problems += _label_names_problems(aws["s3"], location, job.label_names_file, objects)
    if problems:
        return _reject(aws, config, location.bucket, location.prefix, source, problems, trigger_id)

    name = training_job_name(config.name_prefix, location, trigger_id, files, job)
    existing = describe_or_none(aws["sagemaker"].describe_training_job, TrainingJobName=name)
    if existing is not None:
        return _already_started(existing)
    request = build_create_training_job_request(config, location, files, job, name)
    try:
        response = aws["sagemaker"].create_training_job(**request)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "ResourceInUse":  # a concurrent delivery of the same event won the race
            return _already_started(
                describe_or_none(aws["sagemaker"].describe_training_job, TrainingJobName=name)
            )
        if code in PERMANENT_SAGEMAKER_ERRORS:
            reason = f"SageMaker refused the training job: {error.response['Error'].get('Message', code)}"
            return _reject(aws, config, location.bucket, location.prefix, source, [reason], trigger_id)
        raise  # throttling or an outage: let Lambda retry; the job name makes retries safe
    ignored = ignored_objects(objects, location.prefix, files)
    result = {
        "status": "started",
        "training_job_name": name,
        "training_job_arn": response["TrainingJobArn"],
        "dataset": location.uri,
        "channels": {split: f"s3://{location.bucket}/{f.key}" for split, f in sorted(files.items())},
        "instance_type": job.instance_type,
        "instance_count": job.instance_count,
        "ignored_files": ignored,
    }
    notify(aws["sns"], config.notification_topic_arn, f"Training started: {name}", result)
    logger.info("Started training job %s for %s", name, location.uri)
    return result


def _read_manifest(s3: Any, location: DatasetLocation, required: bool) -> dict[str, Any]:
    try:
        response = s3.get_object(Bucket=location.bucket, Key=location.manifest_key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404") and not required:
            return {}
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            raise InvalidRequest([f"{location.manifest_key} no longer exists"]) from None
        raise
    if response["ContentLength"] > MAX_MANIFEST_BYTES:
        raise InvalidRequest([f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes"])
    body = response["Body"].read()
    if not body.strip():
        return {}  # an empty manifest means "all defaults"
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidRequest([f"{MANIFEST_NAME} is not valid JSON: {error}"]) from None


def _list_objects(s3: Any, location: DatasetLocation) -> list[DataObject]:
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=location.prefix):
        objects += [DataObject(o["Key"], o["Size"], o["ETag"].strip('"')) for o in page.get("Contents", [])]
    return objects


def _read_head(s3: Any, bucket: str, key: str) -> bytes:
    """The first 64 KiB only: enough for the header, whatever the size of the file."""
    return s3.get_object(Bucket=bucket, Key=key, Range=HEAD_RANGE)["Body"].read()


def _content_problems(
    s3: Any, location: DatasetLocation, files: dict[str, SplitFile], columns: list[tuple[str, ...]]
) -> list[str]:
    problems = []
    for split_file in files.values():
        if split_file.size > 0:
            head = _read_head(s3, location.bucket, split_file.key)
            problems += column_problems(split_file, head, columns)
    return problems


def _label_names_problems(
    s3: Any, location: DatasetLocation, names_file: str | None, objects: list[DataObject]
) -> list[str]:
    listed = {o.key: o for o in objects}
    names_object = listed.get(location.prefix + names_file) if names_file else None
    if names_file is None or names_object is None or names_object.size == 0:
        return []  # no file asked for, or select_split_files already reported it missing / empty
    _, problems = parse_label_names(_read_head(s3, location.bucket, names_object.key), names_file)
    return problems


def _already_started(job: dict[str, Any] | None) -> dict[str, Any]:
    if job is None:
        raise RuntimeError("CreateTrainingJob reported ResourceInUse but the job cannot be described")
    logger.info("Training job %s already exists (%s)", job["TrainingJobName"], job["TrainingJobStatus"])
    return {
        "status": "exists",
        "training_job_name": job["TrainingJobName"],
        "training_job_arn": job["TrainingJobArn"],
        "training_job_status": job["TrainingJobStatus"],
        "message": "this dataset upload already started a training job; to train again on the same data, "
        "add or change run_id in the manifest or the request",
    }


def _reject(
    aws: dict[str, Any],
    config: LauncherConfig,
    bucket: str,
    folder: str,
    source: str,
    problems: list[str],
    trigger_id: str,
) -> dict[str, Any]:
    """Record why next to the data (`_rejected.json`) and notify; never touches the data files."""
    record = {
        "status": "rejected",
        "dataset": f"s3://{bucket}/{folder}",
        "source": source,
        "trigger": trigger_id,
        "rejected_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "problems": problems,
        "how_to_fix": "fix the problems above, then upload manifest.json again (it starts the training)",
    }
    rejection_key = folder + REJECTION_NAME
    aws["s3"].put_object(
        Bucket=bucket,
        Key=rejection_key,
        Body=json.dumps(record, indent=2).encode(),
        ContentType="application/json",
    )
    record["rejection_record"] = f"s3://{bucket}/{rejection_key}"
    notify(aws["sns"], config.notification_topic_arn, f"Dataset rejected: s3://{bucket}/{folder}", record)
    logger.warning("Rejected s3://%s/%s: %s", bucket, folder, problems)
    return record
