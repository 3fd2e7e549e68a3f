"""The launcher's SageMaker metric definitions read the metric lines the real training entry point prints, and
the registrar reads the same gate metric from the real artifact's eval_results.json.

Uses the `trained_run` fixture: `python -m training.train` run once on the tiny BERT and the shipped
moderation dataset. The registrar part runs on moto S3 / SageMaker / SSM / SNS (see test_deployment_registrar).
"""

from __future__ import annotations

import io
import re
import tarfile
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from tests.support.aws import REGION, fake_credentials
from tests.support.lambdas import lambda_module

training_job = lambda_module("launcher", "training_job")
registrar = lambda_module("registrar")
registrar_config = lambda_module("registrar", "registrar_config")
model_package = lambda_module("registrar", "model_package")

pytestmark = pytest.mark.slow


def scraped(stdout: str) -> dict[str, list[float]]:
    """What SageMaker would chart: every value each metric definition finds, line by line, in log order."""
    definitions = {d["Name"]: re.compile(d["Regex"]) for d in training_job.metric_definitions()}
    values: dict[str, list[float]] = {name: [] for name in definitions}
    for line in stdout.splitlines():
        for name, regex in definitions.items():
            match = regex.search(line)
            if match:
                values[name].append(float(match.group(1)))
    return values


def test_every_metric_definition_reads_the_real_training_output(trained_run):
    run, _ = trained_run
    values = scraped(run.stdout)
    # Step losses are logged every `logging_steps` (500) steps: more than the tiny run has. Shown below.
    never_seen = sorted(name for name, found in values.items() if not found and name != "loss")
    assert never_seen == [], f"metric definitions that match nothing the training prints: {never_seen}"
    printed = run.metric_lines()
    for name, found in values.items():
        if found:
            assert found[-1] == pytest.approx(printed[name]), name  # the whole number, not a prefix of it


def test_step_loss_lines_are_read_too(capsys):
    """The training callback prints each Trainer log entry; with enough steps that includes `loss`."""
    from training.metrics import MetricLinesCallback

    MetricLinesCallback().on_log(
        args=None,
        state=SimpleNamespace(is_world_process_zero=True),
        control=None,
        logs={"loss": 0.6931, "grad_norm": 1.25, "learning_rate": 4.5e-05, "epoch": 0.36},
    )
    values = scraped(capsys.readouterr().out)
    assert values["loss"] == [pytest.approx(0.6931)]
    assert values["epoch"] == [pytest.approx(0.36)]
    assert values["train_loss"] == [] and values["eval_loss"] == []


def test_final_gate_metric_from_the_log_equals_eval_results(trained_run, trained_artifact_dir):
    run, _ = trained_run
    document = (trained_artifact_dir / "eval_results.json").read_bytes()
    from_artifact = model_package.metrics_from_eval_results(document)
    # FinalMetricDataList keeps each metric's last value: the final validation figures.
    assert scraped(run.stdout)["eval_f1_macro"][-1] == pytest.approx(from_artifact["eval_f1_macro"], abs=1e-6)


def test_registrar_reads_the_real_artifact(trained_artifact_dir, monkeypatch):
    fake_credentials(monkeypatch)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for path in sorted(trained_artifact_dir.rglob("*")):
            tar.add(path, arcname=path.relative_to(trained_artifact_dir).as_posix(), recursive=False)
    with mock_aws():
        clients = {name: boto3.client(name, region_name=REGION) for name in ("s3", "sagemaker", "sns", "ssm")}
        clients["s3"].create_bucket(Bucket="models")
        clients["sagemaker"].create_model_package_group(ModelPackageGroupName="textclf-models")
        clients["ssm"].put_parameter(
            Name="/textclf/deployed-model/model-data-url", Value="none", Type="String"
        )
        topic = clients["sns"].create_topic(Name="mlops")["TopicArn"]
        clients["sagemaker"].create_training_job(
            TrainingJobName="textclf-moderation-v1-0123456789",
            AlgorithmSpecification={"TrainingImage": "image", "TrainingInputMode": "File"},
            RoleArn="arn:aws:iam::123456789012:role/sagemaker",
            OutputDataConfig={"S3OutputPath": "s3://models/training-jobs/"},
            ResourceConfig={"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 3600},
        )
        clients["s3"].put_object(
            Bucket="models",
            Key="training-jobs/textclf-moderation-v1-0123456789/output/model.tar.gz",
            Body=archive.getvalue(),
        )
        config = registrar_config.RegistrarConfig(
            region=REGION,
            model_package_group_name="textclf-models",
            inference_image_uri="inference-image",
            notification_topic_arn=topic,
            min_macro_f1=0.0,
            max_f1_regression=0.01,
            deployed_model_parameter="/textclf/deployed-model/model-data-url",
            name_prefix="textclf",
            models_bucket="models",
        )
        event = {
            "detail-type": "SageMaker Training Job State Change",
            "detail": {
                "TrainingJobName": "textclf-moderation-v1-0123456789",
                "TrainingJobStatus": "Completed",
            },
        }
        result = registrar.handle(event, config, clients)

    expected = model_package.metrics_from_eval_results(
        (trained_artifact_dir / "eval_results.json").read_bytes()
    )
    assert result["metrics_source"] == "eval_results.json"
    assert result["metrics"]["eval_f1_macro"] == pytest.approx(expected["eval_f1_macro"])
    assert result["status"] == "approved"
