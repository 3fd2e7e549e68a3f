"""Registrar Lambda: training job state change -> model package + approval gate, or a failure notification.

The pure parts (gate, metrics, request) are tested without mocks. The handler runs against moto, which
implements every call it makes (DescribeTrainingJob, Create/Update/List/DescribeModelPackage, S3, SSM, SNS).
moto cannot run a job, so a finished job's FinalMetricDataList is set in moto's backend as SageMaker would
leave it; the eval_results.json fallback reads a real model.tar.gz from moto S3.
"""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import pytest
from moto import mock_aws
from moto.sagemaker.models import sagemaker_backends

from tests.support.aws import (
    ACCOUNT_ID,
    REGION,
    SnsInbox,
    fake_credentials,
    record_requests,
    serve_handler_from,
)
from tests.support.lambdas import lambda_module

handler = lambda_module("registrar")
approval_gate = lambda_module("registrar", "approval_gate")
model_package = lambda_module("registrar", "model_package")
registrar_config = lambda_module("registrar", "registrar_config")

MODELS_BUCKET = "mlc-models"
GROUP = "mlc-models"
PARAMETER = "/mlc/deployed-model/model-data-url"
INFERENCE_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.6.0-transformers4.49.0-gpu-py312-cu124-ubuntu22.04"


# --- the gate (pure) -------------------------------------------------------------------------------------

DEPLOYED = approval_gate.DeployedModel(
    "s3://m/old/model.tar.gz", "arn:aws:sagemaker:::model-package/g/1", 0.80
)


@pytest.mark.parametrize(
    ("candidate", "deployed", "approved", "reason"),
    [
        (0.70, None, True, "eval_f1_macro 0.7000 >= minimum 0.5000; no model is deployed yet"),
        (0.40, None, False, "eval_f1_macro 0.4000 is below the minimum 0.5000"),
        (None, None, False, "reported no eval_f1_macro"),
        (0.795, DEPLOYED, True, "within 0.0100 of the deployed model's 0.8000"),
        (0.85, DEPLOYED, True, "within 0.0100 of the deployed model's 0.8000"),
        (0.78, DEPLOYED, False, "worse than the deployed model's 0.8000 by more than the allowed 0.0100"),
        (0.45, DEPLOYED, False, "below the minimum"),
        (
            0.90,
            approval_gate.DeployedModel("s3://m/x.tar.gz", None, None),
            False,
            "is not in the model package",
        ),
        (0.90, approval_gate.DeployedModel("s3://m/x.tar.gz", "arn:p/1", None), False, "has no recorded"),
    ],
)
def test_gate_decision_and_reason(candidate, deployed, approved, reason):
    decision = approval_gate.decide(candidate, deployed, min_macro_f1=0.5, max_f1_regression=0.01)
    assert decision.approved is approved
    assert reason in decision.reason


# --- metrics and the request (pure) ------------------------------------------------------------------------


def model_tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class ForwardOnly(io.RawIOBase):
    """A non-seekable stream, like an S3 response body."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buffer):
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


EVAL_METRICS = {"eval_loss": 0.21, "eval_f1_macro": 0.73, "eval_f1_micro": 0.81, "test_f1_macro": 0.7}
#: The shape training/train.py writes: its printed metrics under "metrics", reports and thresholds beside.
EVAL_RESULTS = {
    "labels": ["toxic", "insult"],
    "thresholds": {"toxic": 0.4, "insult": 0.55},
    "metrics": EVAL_METRICS,
    "splits": {"validation": {"num_examples": 40}},
}


def test_eval_results_are_streamed_out_of_model_tar_gz():
    archive = model_tarball(
        {
            "config.json": b"{}",
            "model.safetensors": b"\0" * 100_000,
            "./eval_results.json": json.dumps(EVAL_RESULTS).encode(),
        }
    )
    document = model_package.read_tar_member(ForwardOnly(archive), "eval_results.json")
    assert model_package.metrics_from_eval_results(document) == EVAL_METRICS
    assert model_package.read_tar_member(ForwardOnly(archive), "missing.json") is None


def test_plain_trainer_eval_results_are_read_too():
    trainer_file = b'{"epoch": 3.0, "eval_loss": 0.2, "eval_f1_macro": 0.6}'
    assert model_package.metrics_from_eval_results(trainer_file) == {
        "epoch": 3.0,
        "eval_loss": 0.2,
        "eval_f1_macro": 0.6,
    }


def test_metrics_keep_finite_numbers_only():
    assert model_package.metrics_from_eval_results(b'{"a": 1, "b": "x", "c": true, "d": NaN}') == {"a": 1.0}
    final = [
        {"MetricName": "eval_f1_macro", "Value": 0.5},
        {"MetricName": "eval_loss", "Value": float("inf")},
    ]
    assert model_package.metrics_from_final_metric_data(final) == {"eval_f1_macro": 0.5}


TRAINING_JOB = {
    "TrainingJobName": "mlc-toxic-v1-0123456789",
    "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/mlc-toxic-v1-0123456789",
    "ModelArtifacts": {
        "S3ModelArtifacts": f"s3://{MODELS_BUCKET}/training-jobs/mlc-toxic-v1-0123456789/output/model.tar.gz"
    },
    "HyperParameters": {"model_name_or_path": '"bert-base-uncased"'},
    "ResourceConfig": {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
    "InputDataConfig": [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "s3://mlc-datasets/datasets/toxic/v1/train.csv",
                }
            },
        }
    ],
}


def test_model_package_request_registers_the_artifact_in_the_gate_state():
    request = model_package.build_create_model_package_request(
        TRAINING_JOB,
        GROUP,
        INFERENCE_IMAGE,
        {"eval_f1_macro": 0.73},
        "eval_results.json",
        "s3://r/metrics.json",
        approved=False,
    )
    assert request["ModelPackageGroupName"] == GROUP
    assert request["ModelApprovalStatus"] == "PendingManualApproval"
    assert request["InferenceSpecification"]["Containers"] == [
        {"Image": INFERENCE_IMAGE, "ModelDataUrl": TRAINING_JOB["ModelArtifacts"]["S3ModelArtifacts"]}
    ]
    assert request["CustomerMetadataProperties"] == {
        "training_job_name": "mlc-toxic-v1-0123456789",
        "metrics_source": "eval_results.json",
        "instance_type": "ml.g5.2xlarge",
        "dataset": "s3://mlc-datasets/datasets/toxic/v1/",
        "base_model": "bert-base-uncased",
        "eval_f1_macro": "0.73",
    }
    assert request["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == "s3://r/metrics.json"
    assert request["MetadataProperties"] == {"GeneratedBy": TRAINING_JOB["TrainingJobArn"]}
    assert request["ClientToken"] == model_package.client_token("mlc-toxic-v1-0123456789")
    assert len(request["ClientToken"]) <= 36
    approved = model_package.build_create_model_package_request(
        TRAINING_JOB, GROUP, INFERENCE_IMAGE, {}, "none", "s3://r/metrics.json", approved=True
    )
    assert approved["ModelApprovalStatus"] == "Approved"


def test_metadata_values_are_made_acceptable_to_sagemaker():
    job = dict(TRAINING_JOB, HyperParameters={"model_name_or_path": '"org/model (v2)!"'})
    metadata = model_package.customer_metadata(job, {}, "none")
    assert metadata["base_model"] == "org/model _v2__"


# --- the handler against moto ------------------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch):
    fake_credentials(monkeypatch)
    with mock_aws():
        clients = {
            name: boto3.client(name, region_name=REGION) for name in ("s3", "sagemaker", "sns", "ssm", "sqs")
        }
        clients["s3"].create_bucket(Bucket=MODELS_BUCKET)
        clients["sagemaker"].create_model_package_group(ModelPackageGroupName=GROUP)
        clients["ssm"].put_parameter(Name=PARAMETER, Value="none", Type="String")
        topic_arn = clients["sns"].create_topic(Name="mlops")["TopicArn"]
        environment = {
            "AWS_REGION": REGION,
            "MODEL_PACKAGE_GROUP_NAME": GROUP,
            "INFERENCE_IMAGE_URI": INFERENCE_IMAGE,
            "NOTIFICATION_TOPIC_ARN": topic_arn,
            "MIN_MACRO_F1": "0.5",
            "MAX_F1_REGRESSION": "0.01",
            "DEPLOYED_MODEL_PARAMETER": PARAMETER,
            "NAME_PREFIX": "mlc",
            "MODELS_BUCKET": MODELS_BUCKET,
        }
        serve_handler_from(monkeypatch, handler, clients, environment)
        yield type(
            "Aws",
            (),
            {
                "clients": clients,
                "inbox": SnsInbox(clients["sns"], clients["sqs"], topic_arn),
                "artifact_reads": record_requests(clients["s3"], "GetObject"),
            },
        )


def finished_job(aws, name="mlc-toxic-v1-0123456789", eval_results=EVAL_RESULTS, final_metrics=None):
    """A completed training job as SageMaker leaves it: model.tar.gz in S3, final metrics on the job.

    `eval_results` is eval_results.json, or just its metrics (then wrapped as train.py writes them).
    """
    aws.clients["sagemaker"].create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": "training-image", "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/sagemaker",
        InputDataConfig=TRAINING_JOB["InputDataConfig"],
        OutputDataConfig={"S3OutputPath": f"s3://{MODELS_BUCKET}/training-jobs/"},
        ResourceConfig={"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        HyperParameters={"model_name_or_path": '"bert-base-uncased"'},
    )
    files = {"config.json": b"{}"}
    if eval_results is not None:
        document = eval_results if "metrics" in eval_results else {"metrics": eval_results}
        files["eval_results.json"] = json.dumps(document).encode()
    key = f"training-jobs/{name}/output/model.tar.gz"
    aws.clients["s3"].put_object(Bucket=MODELS_BUCKET, Key=key, Body=model_tarball(files))
    if final_metrics is not None:
        job = sagemaker_backends[ACCOUNT_ID][REGION].training_jobs[name]
        job.final_metric_data_list = [
            {"MetricName": k, "Value": v, "Timestamp": 0} for k, v in final_metrics.items()
        ]
    return f"s3://{MODELS_BUCKET}/{key}"


def state_change(name="mlc-toxic-v1-0123456789", status="Completed", **detail):
    return {
        "version": "0",
        "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker",
        "detail": {"TrainingJobName": name, "TrainingJobStatus": status, **detail},
    }


def packages(aws):
    return aws.clients["sagemaker"].list_model_packages(ModelPackageGroupName=GROUP)[
        "ModelPackageSummaryList"
    ]


def test_first_good_model_is_registered_and_approved(aws):
    model_data = finished_job(aws)

    result = handler.lambda_handler(state_change(), None)

    assert result["status"] == "approved"
    assert result["metrics_source"] == "eval_results.json"
    [summary] = packages(aws)
    assert summary["ModelApprovalStatus"] == "Approved"
    package = aws.clients["sagemaker"].describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    assert package["InferenceSpecification"]["Containers"][0] == {
        "Image": INFERENCE_IMAGE,
        "ModelDataUrl": model_data,
    }
    assert package["CustomerMetadataProperties"]["eval_f1_macro"] == "0.73"
    assert result["gate"] == "eval_f1_macro 0.7300 >= minimum 0.5000; no model is deployed yet"
    report = aws.clients["s3"].get_object(
        Bucket=MODELS_BUCKET, Key="training-jobs/mlc-toxic-v1-0123456789/evaluation/metrics.json"
    )
    assert json.loads(report["Body"].read())["multilabel_classification_metrics"]["eval_f1_macro"] == {
        "value": 0.73
    }
    [notification] = aws.inbox.messages()
    assert notification["subject"] == "Model approved for deployment: mlc-toxic-v1-0123456789"
    assert notification["details"]["model_package_arn"] == summary["ModelPackageArn"]


def test_final_metrics_are_used_without_opening_the_artifact(aws):
    finished_job(aws, eval_results=None, final_metrics={"eval_f1_macro": 0.66, "eval_loss": 0.3})

    result = handler.lambda_handler(state_change(), None)

    assert result["metrics_source"] == "FinalMetricDataList"
    assert result["metrics"] == {"eval_f1_macro": 0.66, "eval_loss": 0.3}
    assert aws.artifact_reads == []


def test_model_below_the_minimum_waits_for_a_person(aws):
    finished_job(aws, eval_results={**EVAL_METRICS, "eval_f1_macro": 0.31})

    result = handler.lambda_handler(state_change(), None)

    assert result["status"] == "pending_manual_approval"
    assert "below the minimum 0.5000" in result["gate"]
    [summary] = packages(aws)
    assert summary["ModelApprovalStatus"] == "PendingManualApproval"
    [notification] = aws.inbox.messages()
    assert notification["subject"] == "Model needs manual approval: mlc-toxic-v1-0123456789"
    assert "deployment.cli approve" in notification["details"]["next_step"]


def test_model_without_any_metric_waits_for_a_person(aws):
    finished_job(aws, eval_results=None)

    result = handler.lambda_handler(state_change(), None)

    assert result["status"] == "pending_manual_approval"
    assert "reported no eval_f1_macro" in result["gate"]


@pytest.mark.parametrize(("candidate", "status"), [(0.795, "approved"), (0.78, "pending_manual_approval")])
def test_new_model_is_compared_with_the_deployed_one(aws, candidate, status):
    deployed_url = finished_job(aws, name="mlc-toxic-v1-aaaaaaaaaa", eval_results={"eval_f1_macro": 0.80})
    handler.lambda_handler(state_change("mlc-toxic-v1-aaaaaaaaaa"), None)
    aws.clients["ssm"].put_parameter(Name=PARAMETER, Value=deployed_url, Type="String", Overwrite=True)
    finished_job(aws, name="mlc-toxic-v2-bbbbbbbbbb", eval_results={"eval_f1_macro": candidate})

    result = handler.lambda_handler(state_change("mlc-toxic-v2-bbbbbbbbbb"), None)

    assert result["status"] == status
    assert "the deployed model's 0.8000" in result["gate"]


def test_deployed_model_unknown_to_the_registry_blocks_automatic_approval(aws):
    aws.clients["ssm"].put_parameter(
        Name=PARAMETER, Value="s3://elsewhere/model.tar.gz", Type="String", Overwrite=True
    )
    finished_job(aws, eval_results={"eval_f1_macro": 0.99})

    result = handler.lambda_handler(state_change(), None)

    assert result["status"] == "pending_manual_approval"
    assert "s3://elsewhere/model.tar.gz is not in the model package group" in result["gate"]


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("Failed", "AlgorithmError: CUDA out of memory", "AlgorithmError: CUDA out of memory"),
        ("Stopped", None, "stopped on request"),
    ],
)
def test_failed_or_stopped_job_is_notified_with_its_reason(aws, status, reason, expected):
    detail = {"FailureReason": reason} if reason else {}

    result = handler.lambda_handler(state_change(status=status, **detail), None)

    assert result["failure_reason"] == expected
    assert packages(aws) == []
    [notification] = aws.inbox.messages()
    assert notification["subject"] == f"Training {status.lower()}: mlc-toxic-v1-0123456789"
    assert notification["details"]["failure_reason"] == expected


@pytest.mark.parametrize(
    "event",
    [
        state_change(name="other-stack-job"),
        state_change(status="InProgress"),
        {"detail-type": "Something Else", "detail": {"TrainingJobName": "mlc-x"}},
    ],
)
def test_other_events_are_ignored(aws, event):
    assert handler.lambda_handler(event, None)["status"] == "ignored"
    assert packages(aws) == [] and aws.inbox.messages() == []
