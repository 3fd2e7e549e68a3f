"""Registrar Lambda: a finished training job -> a model package in the registry, then the approval gate.

Trigger: EventBridge "SageMaker Training Job State Change" (Completed, Failed, Stopped) for this stack's jobs.
- Failed / Stopped: SNS notification with the job's FailureReason.
- Completed: metrics from the job's FinalMetricDataList (or eval_results.json inside model.tar.gz), a metrics
  report in the models bucket, the gate (approval_gate), then CreateModelPackage in its final state:
  Approved (whose state change event starts the deployer) or PendingManualApproval, and a notification.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from approval_gate import GATE_METRIC, DeployedModel, GateDecision, decide
from botocore.exceptions import ClientError
from mlops_common.aws import aws_clients
from mlops_common.notifications import notify
from model_package import (
    EVAL_RESULTS_MEMBER,
    build_create_model_package_request,
    gate_metric,
    metrics_from_eval_results,
    metrics_from_final_metric_data,
    metrics_report,
    metrics_report_key,
    read_tar_member,
    split_s3_uri,
)
from registrar_config import RegistrarConfig

logger = logging.getLogger()
logger.setLevel(logging.INFO)

#: Value of the deployed-model parameter before any model was deployed (set by the CDK stack).
NO_MODEL = "none"
#: How many approved packages to look through for the deployed one (newest first).
MAX_PACKAGES_SEARCHED = 100


def _clients(region: str) -> dict[str, Any]:
    return aws_clients(region, ("s3", "sagemaker", "sns", "ssm"))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = RegistrarConfig.from_environ(os.environ)
    return handle(event, config, _clients(config.region))


def handle(event: dict[str, Any], config: RegistrarConfig, aws: dict[str, Any]) -> dict[str, Any]:
    detail = event.get("detail") or {}
    job_name = detail.get("TrainingJobName", "")
    status = detail.get("TrainingJobStatus")
    if event.get("detail-type") != "SageMaker Training Job State Change" or not job_name.startswith(
        f"{config.name_prefix}-"
    ):
        return {"status": "ignored", "reason": f"not a training job of this stack: {job_name or event}"}
    if status in ("Failed", "Stopped"):
        return _report_unfinished(aws, config, job_name, status, detail.get("FailureReason"))
    if status != "Completed":
        return {"status": "ignored", "reason": f"training job {job_name} is {status}"}
    return _register(aws, config, aws["sagemaker"].describe_training_job(TrainingJobName=job_name))


def _report_unfinished(
    aws: dict[str, Any], config: RegistrarConfig, job_name: str, status: str, failure_reason: str | None
) -> dict[str, Any]:
    result = {
        "status": f"training_{status.lower()}",
        "training_job_name": job_name,
        "failure_reason": failure_reason or ("stopped on request" if status == "Stopped" else "not reported"),
    }
    notify(aws["sns"], config.notification_topic_arn, f"Training {status.lower()}: {job_name}", result)
    return result


def _register(aws: dict[str, Any], config: RegistrarConfig, training_job: dict[str, Any]) -> dict[str, Any]:
    job_name = training_job["TrainingJobName"]
    metrics, source = _metrics(aws["s3"], training_job)
    report_key = metrics_report_key(job_name)
    aws["s3"].put_object(
        Bucket=config.models_bucket,
        Key=report_key,
        Body=metrics_report(training_job, metrics, source),
        ContentType="application/json",
    )
    decision = decide(
        gate_metric(metrics), _deployed_model(aws, config), config.min_macro_f1, config.max_f1_regression
    )
    # Registered straight in its final state: an Approved package's state change event starts the deployer.
    request = build_create_model_package_request(
        training_job,
        config.model_package_group_name,
        config.inference_image_uri,
        metrics,
        source,
        f"s3://{config.models_bucket}/{report_key}",
        approved=decision.approved,
    )
    package_arn = aws["sagemaker"].create_model_package(**request)["ModelPackageArn"]
    result = _summary(training_job, package_arn, metrics, source, decision)
    subject = "approved for deployment" if decision.approved else "needs manual approval"
    notify(aws["sns"], config.notification_topic_arn, f"Model {subject}: {job_name}", result)
    logger.info("Registered %s from %s: %s", package_arn, job_name, decision.reason)
    return result


def _metrics(s3: Any, training_job: dict[str, Any]) -> tuple[dict[str, float], str]:
    """The job's final metrics; eval_results.json from model.tar.gz when the gate metric is missing there."""
    metrics = metrics_from_final_metric_data(training_job.get("FinalMetricDataList", []))
    if gate_metric(metrics) is not None:
        return metrics, "FinalMetricDataList"
    bucket, key = split_s3_uri(training_job["ModelArtifacts"]["S3ModelArtifacts"])
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        document = read_tar_member(body, EVAL_RESULTS_MEMBER)
    except ClientError as error:
        logger.warning("Cannot read %s from s3://%s/%s: %s", EVAL_RESULTS_MEMBER, bucket, key, error)
        document = None
    if document is None:
        return metrics, "FinalMetricDataList"
    return {**metrics, **metrics_from_eval_results(document)}, EVAL_RESULTS_MEMBER


def _deployed_model(aws: dict[str, Any], config: RegistrarConfig) -> DeployedModel | None:
    """The live model (from the deployed-model parameter) and its registered macro-F1, if any."""
    url = aws["ssm"].get_parameter(Name=config.deployed_model_parameter)["Parameter"]["Value"]
    if url == NO_MODEL:
        return None
    searched = 0
    paginator = aws["sagemaker"].get_paginator("list_model_packages")
    for page in paginator.paginate(
        ModelPackageGroupName=config.model_package_group_name,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
    ):
        for summary in page["ModelPackageSummaryList"]:
            package = aws["sagemaker"].describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            if package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == url:
                f1 = (package.get("CustomerMetadataProperties") or {}).get(GATE_METRIC)
                return DeployedModel(url, summary["ModelPackageArn"], float(f1) if f1 is not None else None)
            searched += 1
            if searched >= MAX_PACKAGES_SEARCHED:
                return DeployedModel(url, None, None)
    return DeployedModel(url, None, None)


def _summary(
    training_job: dict[str, Any],
    package_arn: str,
    metrics: dict[str, float],
    source: str,
    decision: GateDecision,
) -> dict[str, Any]:
    return {
        "status": "approved" if decision.approved else "pending_manual_approval",
        "model_package_arn": package_arn,
        "training_job_name": training_job["TrainingJobName"],
        "model_data_url": training_job["ModelArtifacts"]["S3ModelArtifacts"],
        "metrics": metrics,
        "metrics_source": source,
        "gate": decision.reason,
        "next_step": (
            "the deployer rolls it out (blue/green with canary and auto-rollback)"
            if decision.approved
            else "approve or reject it: python -m deployment.cli approve|reject <model package arn>"
        ),
    }
