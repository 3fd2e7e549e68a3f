"""The ops CLI (`python -m deployment.cli`): every command against offline AWS.

moto serves SageMaker (training jobs, model packages, endpoints) and SSM. botocore's Stubber serves Lambda
Invoke (moto runs Lambda functions only in Docker, which this project does not need) and CloudFormation
DescribeStacks (moto's CloudFormation backend needs packages this project does not install); the Stubber
also pins the exact payload the CLI sends to the launcher and deployer functions.
"""

from __future__ import annotations

import argparse
import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from deployment import cli
from tests.support.aws import REGION, fake_credentials

PREFIX = "textclf"
GROUP = f"{PREFIX}-models"
ENDPOINT = f"{PREFIX}-endpoint"
PARAMETER = f"/{PREFIX}/deployed-model/model-data-url"
LAUNCHER = "textclf-training-TrainingLauncherFunction-AbC123"
DEPLOYER = "textclf-training-ModelRegistryDeployerFunction-XyZ789"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.6.0-transformers4.49.0-gpu-py312-cu124-ubuntu22.04"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"


def model_url(job: str) -> str:
    return f"s3://textclf-models/training-jobs/{job}/output/model.tar.gz"


@pytest.fixture
def aws(monkeypatch):
    fake_credentials(monkeypatch)
    with mock_aws():
        clients = {name: boto3.client(name, region_name=REGION) for name in ("sagemaker", "ssm")}
        clients["lambda"] = boto3.client("lambda", region_name=REGION)
        clients["cloudformation"] = boto3.client("cloudformation", region_name=REGION)
        clients["sagemaker"].create_model_package_group(ModelPackageGroupName=GROUP)
        clients["ssm"].put_parameter(Name=PARAMETER, Value="none", Type="String")
        with Stubber(clients["lambda"]) as lambda_stub, Stubber(clients["cloudformation"]) as stacks_stub:
            yield type(
                "Aws",
                (),
                {"clients": clients, "lambda_stub": lambda_stub, "stacks_stub": stacks_stub},
            )
            lambda_stub.assert_no_pending_responses()
            stacks_stub.assert_no_pending_responses()


def deployed_stacks(aws, outputs_by_role=None):
    """DescribeStacks answers for the three stacks; CDK suffixes a hash to outputs declared in constructs."""
    outputs_by_role = outputs_by_role or {
        "data": {"DatasetsBucketName": "textclf-datasets-1"},
        "training": {
            "TrainingLauncherLauncherFunctionNameAD5C22C5": LAUNCHER,
            "ModelRegistryDeployerFunctionName1B2C3D4E": DEPLOYER,
        },
        "serving": {"EndpointName": ENDPOINT},
    }
    for role in cli.STACK_ROLES:
        name = f"{PREFIX}-{role}"
        if role not in outputs_by_role:
            aws.stacks_stub.add_client_error(
                "describe_stacks",
                "ValidationError",
                f"Stack with id {name} does not exist",
                expected_params={"StackName": name},
            )
            continue
        outputs = [{"OutputKey": key, "OutputValue": value} for key, value in outputs_by_role[role].items()]
        stack = {
            "StackName": name,
            "StackStatus": "UPDATE_COMPLETE",
            "CreationTime": "2025-01-01",
            "Outputs": outputs,
        }
        aws.stacks_stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": name})


def lambda_answers(aws, function, payload, answer, function_error=None):
    body = json.dumps(answer).encode()
    response = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))}
    if function_error:
        response["FunctionError"] = function_error
    aws.lambda_stub.add_response(
        "invoke",
        response,
        {
            "FunctionName": function,
            "InvocationType": "RequestResponse",
            "Payload": json.dumps(payload).encode(),
        },
    )


def run(aws, *argv):
    return cli.main(["--prefix", PREFIX, *argv], client=lambda service: aws.clients[service])


def register(aws, job, status="Approved", f1="0.8"):
    return aws.clients["sagemaker"].create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": model_url(job)}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus=status,
        CustomerMetadataProperties={"eval_f1_macro": f1, "training_job_name": job},
    )["ModelPackageArn"]


def deploy_record(aws, job):
    aws.clients["ssm"].put_parameter(Name=PARAMETER, Value=model_url(job), Type="String", Overwrite=True)


def test_names_come_from_stack_outputs_even_with_cdk_hash_suffixes(aws):
    deployed_stacks(aws)
    args = argparse.Namespace(prefix=PREFIX, **dict.fromkeys(cli.OUTPUTS))
    settings = cli.Settings.discover(args, lambda service: aws.clients[service])
    assert settings.launcher_function == LAUNCHER
    assert settings.deployer_function == DEPLOYER
    assert settings.endpoint_name == ENDPOINT
    assert settings.model_package_group == GROUP  # no output: the app's naming convention
    assert settings.deployed_model_parameter == PARAMETER


def test_train_invokes_the_launcher_with_the_job_request(aws, capsys):
    deployed_stacks(aws)
    request = {
        "dataset": "toxic",
        "version": "v2",
        "multi_hot_label_columns": ["toxic", "insult"],
        "instance_type": "ml.g5.2xlarge",
        "use_spot_instances": True,
        "hyperparameters": {
            "num_train_epochs": 5,
            "learning_rate": 3e-05,
            "fp16": True,
            "lr_scheduler_type": "cosine",
        },
    }
    lambda_answers(aws, LAUNCHER, request, {"status": "started", "training_job_name": "textclf-toxic-v2-abc"})

    code = run(
        aws,
        "train",
        "--dataset", "toxic",
        "--version", "v2",
        "--multi-hot-label-columns", "toxic,insult",
        "--instance-type", "ml.g5.2xlarge",
        "--spot",
        "-p", "num_train_epochs=5",
        "-p", "learning_rate=3e-05",
        "-p", "fp16=true",
        "-p", "lr_scheduler_type=cosine",
    )  # fmt: skip

    assert code == 0
    assert '"training_job_name": "textclf-toxic-v2-abc"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "function_error", "code"),
    [
        ({"status": "exists", "training_job_name": "j"}, None, 0),
        ({"status": "invalid_request", "errors": ["instance_count must be an integer"]}, None, 1),
        ({"status": "rejected", "problems": ["validation: no validation.csv"]}, None, 1),
        ({"errorMessage": "boom", "errorType": "RuntimeError"}, "Unhandled", 2),
    ],
)
def test_train_exit_code_follows_the_launcher_answer(aws, capsys, answer, function_error, code):
    deployed_stacks(aws)
    lambda_answers(aws, LAUNCHER, {"dataset": "toxic", "version": "v1"}, answer, function_error)

    assert run(aws, "train", "--dataset", "toxic", "--version", "v1") == code
    assert json.loads(capsys.readouterr().out) == answer


def test_train_needs_a_version_with_a_dataset_name(aws):
    with pytest.raises(SystemExit) as exited:
        run(aws, "train", "--dataset", "toxic")
    assert exited.value.code == 2


def test_missing_stack_output_is_explained(aws, capsys):
    deployed_stacks(aws, {"serving": {"EndpointName": ENDPOINT}})

    assert run(aws, "train", "--dataset", "toxic", "--version", "v1") == 1
    assert "cannot find the LauncherFunctionName output" in capsys.readouterr().err


def test_jobs_lists_this_apps_training_jobs(aws, capsys):
    deployed_stacks(aws)
    for name in ("textclf-toxic-v1-aaaaaaaaaa", "other-app-job"):
        aws.clients["sagemaker"].create_training_job(
            TrainingJobName=name,
            AlgorithmSpecification={"TrainingImage": "image", "TrainingInputMode": "File"},
            RoleArn=ROLE,
            OutputDataConfig={"S3OutputPath": "s3://textclf-models/training-jobs/"},
            ResourceConfig={"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 3600},
        )

    assert run(aws, "jobs") == 0
    out = capsys.readouterr().out
    assert "textclf-toxic-v1-aaaaaaaaaa" in out and "Completed" in out
    assert "other-app-job" not in out


def test_packages_show_status_metric_and_the_deployed_one(aws, capsys):
    deployed_stacks(aws)
    register(aws, "job-1", f1="0.71")
    register(aws, "job-2", status="PendingManualApproval", f1="0.42")
    deploy_record(aws, "job-1")

    assert run(aws, "packages") == 0
    lines = capsys.readouterr().out.splitlines()
    [first] = [line for line in lines if "job-1" in line]
    [second] = [line for line in lines if "job-2" in line]
    assert first.startswith(" * v1") and "Approved" in first and "eval_f1_macro=0.71" in first
    assert second.startswith("   v2") and "PendingManualApproval" in second


@pytest.mark.parametrize(("command", "status"), [("approve", "Approved"), ("reject", "Rejected")])
def test_approve_or_reject_by_version(aws, capsys, command, status):
    deployed_stacks(aws)
    package = register(aws, "job-1", status="PendingManualApproval")

    assert run(aws, command, "1", "--note", "looked at the errors") == 0

    described = aws.clients["sagemaker"].describe_model_package(ModelPackageName=package)
    assert described["ModelApprovalStatus"] == status
    assert described["ApprovalDescription"] == "looked at the errors"
    assert f"{package}: {status}" in capsys.readouterr().out


def test_unknown_package_version_is_an_error(aws, capsys):
    deployed_stacks(aws)
    assert run(aws, "approve", "7") == 1
    assert "no version 7 in model package group textclf-models" in capsys.readouterr().err


def test_deploy_invokes_the_deployer(aws):
    deployed_stacks(aws)
    package = register(aws, "job-1")
    lambda_answers(
        aws,
        DEPLOYER,
        {"model_package_arn": package, "reason": "endpoint was busy"},
        {"status": "deploying"},
    )

    assert run(aws, "deploy", "v1", "--reason", "endpoint was busy") == 0


def test_rollback_goes_to_the_approved_package_before_the_deployed_one(aws):
    deployed_stacks(aws)
    register(aws, "job-1")
    previous = register(aws, "job-2")
    register(aws, "job-3", status="Rejected")
    register(aws, "job-4")
    deploy_record(aws, "job-4")
    lambda_answers(
        aws,
        DEPLOYER,
        {"model_package_arn": previous, "reason": "rollback requested from the CLI"},
        {"status": "deploying"},
    )

    assert run(aws, "rollback") == 0


def test_rollback_to_a_named_package(aws):
    deployed_stacks(aws)
    register(aws, "job-1")
    second = register(aws, "job-2")
    deploy_record(aws, "job-1")
    lambda_answers(aws, DEPLOYER, {"model_package_arn": second, "reason": "fix"}, {"status": "deploying"})

    assert run(aws, "rollback", "--to", second, "--reason", "fix") == 0


@pytest.mark.parametrize(
    ("deployed", "message"),
    [
        ("job-1", "no approved package older than the deployed one"),
        ("elsewhere", "is not an approved package"),
    ],
)
def test_rollback_without_a_previous_package_explains_why(aws, capsys, deployed, message):
    deployed_stacks(aws)
    register(aws, "job-1")
    deploy_record(aws, deployed)

    assert run(aws, "rollback") == 1
    assert message in capsys.readouterr().err


def test_endpoint_shows_what_is_served_and_what_is_recorded(aws, capsys):
    deployed_stacks(aws)
    assert run(aws, "endpoint") == 0
    assert "not deployed yet (deployed-model record: none)" in capsys.readouterr().out

    sagemaker = aws.clients["sagemaker"]
    sagemaker.create_model(
        ModelName="m1",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": model_url("job-1")},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="c1",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "m1",
                "InstanceType": "ml.g4dn.xlarge",
                "InitialInstanceCount": 2,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="c1")
    deploy_record(aws, "job-2")
    deployed_stacks(aws)

    assert run(aws, "endpoint") == 0
    out = capsys.readouterr().out
    assert f"Endpoint {ENDPOINT}: InService" in out
    assert "variant AllTraffic: 2 instance(s)" in out
    assert f"serving:  {model_url('job-1')}" in out
    assert f"recorded: {model_url('job-2')}  (differs" in out


def test_status_prints_every_section(aws, capsys):
    deployed_stacks(aws)
    assert run(aws, "status") == 0
    out = capsys.readouterr().out
    assert "Training jobs (textclf-*)" in out and "Model packages in textclf-models" in out
    assert f"Endpoint {ENDPOINT}" in out
