"""Deployer Lambda: approved model package -> blue/green endpoint update, or the first endpoint via the serving
stack; plus keeping the deployed-model SSM record true after an auto-rollback.

Pure request builders are tested without mocks. The handler runs on moto for SageMaker model packages,
models, endpoint configs and endpoints, SSM, SNS and Application Auto Scaling. botocore's Stubber covers what
moto lacks: UpdateEndpoint (not implemented in moto 5.2.5; the Stubber also pins its exact DeploymentConfig)
and CloudFormation (moto's CloudFormation backend needs packages this project does not install, and cannot
resolve SSM-typed stack parameters). moto's CreateEndpointConfig only knows an old instance-type list without
ml.g5.*, so the moto tests serve on ml.g4dn.* (also local-NVMe storage, so also no KMS key on the volume).
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from tests.support.aws import REGION, SnsInbox, fake_credentials, record_requests, serve_handler_from
from tests.support.lambdas import lambda_module

handler = lambda_module("deployer")
deployment_plan = lambda_module("deployer", "deployment_plan")
deployer_config = lambda_module("deployer", "deployer_config")
settings = lambda_module("deployer", "mlops_common.settings")

ENDPOINT = "mlc-endpoint"
GROUP = "mlc-models"
PARAMETER = "/mlc/deployed-model/model-data-url"
STACK = "mlc-serving"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
KMS = "arn:aws:kms:us-east-1:123456789012:key/abcd"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.6.0-transformers4.49.0-gpu-py312-cu124-ubuntu22.04"
ENVIRONMENT = {
    "AWS_REGION": REGION,
    "ENDPOINT_NAME": ENDPOINT,
    "SAGEMAKER_ROLE_ARN": ROLE,
    "INSTANCE_TYPE": "ml.g4dn.xlarge",
    "INITIAL_INSTANCE_COUNT": "1",
    "KMS_KEY_ARN": KMS,
    "ROLLBACK_ALARM_NAMES": "mlc-model-errors,mlc-5xx,mlc-p99-latency",
    "CANARY_PERCENT": "25",
    "WAIT_INTERVAL_SECONDS": "300",
    "TERMINATION_WAIT_SECONDS": "600",
    "DEPLOYED_MODEL_PARAMETER": PARAMETER,
    "SERVING_STACK_NAME": STACK,
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:mlops",
    "MODEL_ENVIRONMENT": '{"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}',
}


def config_with(**overrides):
    return deployer_config.DeployerConfig.from_environ({**ENVIRONMENT, **overrides})


CONFIG = config_with()
#: The serving stack re-applied as it is, for the first deployment: same template, every parameter kept.
STACK_UPDATE = {
    "StackName": STACK,
    "UsePreviousTemplate": True,
    "Parameters": [
        {"ParameterKey": "DeployedModelDataUrl", "UsePreviousValue": True},
        {"ParameterKey": "BootstrapVersion", "UsePreviousValue": True},
    ],
    "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
}

MODEL = deployment_plan.ApprovedModel(
    package_arn=f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{GROUP}/3",
    version=3,
    image=IMAGE,
    model_data_url="s3://mlc-models/training-jobs/job-3/output/model.tar.gz",
    environment={},
)


# --- settings and pure request builders ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"CANARY_PERCENT": "60"}, "CANARY_PERCENT must be at most 50"),
        ({"WAIT_INTERVAL_SECONDS": "4000"}, "WAIT_INTERVAL_SECONDS must be at most 3600"),
        ({"ROLLBACK_ALARM_NAMES": ""}, "ROLLBACK_ALARM_NAMES is required"),
        (
            {"ROLLBACK_ALARM_NAMES": ",".join(f"a{i}" for i in range(11))},
            "must name 1 to 10 CloudWatch alarms",
        ),
        ({"MODEL_ENVIRONMENT": "[1]"}, "MODEL_ENVIRONMENT must be a JSON object"),
        ({"INITIAL_INSTANCE_COUNT": "zero"}, "INITIAL_INSTANCE_COUNT must be an integer"),
    ],
)
def test_bad_settings_name_the_variable(override, message):
    with pytest.raises(settings.SettingError, match=message):
        config_with(**override)


@pytest.mark.parametrize(
    ("fleet", "percent", "expected"),
    [
        (1, 25, {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}),
        (
            2,
            25,
            {
                "Type": "CANARY",
                "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                "WaitIntervalInSeconds": 300,
            },
        ),
        (
            8,
            25,
            {
                "Type": "CANARY",
                "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 2},
                "WaitIntervalInSeconds": 300,
            },
        ),
        (
            4,
            50,
            {
                "Type": "CANARY",
                "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 2},
                "WaitIntervalInSeconds": 300,
            },
        ),
    ],
)
def test_canary_is_at_most_half_the_new_fleet(fleet, percent, expected):
    routing = deployment_plan.traffic_routing(config_with(CANARY_PERCENT=str(percent)), fleet)
    assert routing == expected
    if routing["Type"] == "CANARY":
        assert 1 <= routing["CanarySize"]["Value"] <= fleet // 2


def test_update_request_is_blue_green_with_auto_rollback_on_the_alarms():
    assert deployment_plan.build_update_endpoint_request(CONFIG, "cfg-new", 2) == {
        "EndpointName": ENDPOINT,
        "EndpointConfigName": "cfg-new",
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    "WaitIntervalInSeconds": 300,
                },
                "TerminationWaitInSeconds": 600,
                "MaximumExecutionTimeoutInSeconds": 3000,
            },
            "AutoRollbackConfiguration": {
                "Alarms": [
                    {"AlarmName": "mlc-model-errors"},
                    {"AlarmName": "mlc-5xx"},
                    {"AlarmName": "mlc-p99-latency"},
                ]
            },
        },
    }


def test_execution_timeout_stays_within_sagemaker_bounds():
    assert (
        deployment_plan.execution_timeout(
            config_with(WAIT_INTERVAL_SECONDS="0", TERMINATION_WAIT_SECONDS="0")
        )
        == 1800
    )
    longest = config_with(WAIT_INTERVAL_SECONDS="3600", TERMINATION_WAIT_SECONDS="3600")
    assert deployment_plan.execution_timeout(longest) == 1800 + 3 * 3600


def test_green_fleet_keeps_the_auto_scaled_size():
    assert deployment_plan.green_fleet_size(CONFIG, None) == 1
    assert deployment_plan.green_fleet_size(CONFIG, 5) == 5
    assert deployment_plan.green_fleet_size(config_with(INITIAL_INSTANCE_COUNT="3"), 2) == 3


def test_model_serves_the_package_with_the_stack_environment():
    name = deployment_plan.model_name(MODEL, CONFIG)
    assert deployment_plan.build_create_model_request(MODEL, CONFIG, name) == {
        "ModelName": name,
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {
            "Image": IMAGE,
            "ModelDataUrl": MODEL.model_data_url,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_MODEL_SERVER_WORKERS": "1"},
        },
        "EnableNetworkIsolation": True,
        "Tags": [{"Key": "mlops:model-package", "Value": MODEL.package_arn}],
    }


def test_resource_names_are_deterministic_valid_and_change_with_settings():
    name = deployment_plan.model_name(MODEL, CONFIG)
    assert name == deployment_plan.model_name(MODEL, CONFIG)
    assert name.startswith(f"{ENDPOINT}-v3-") and len(name) <= 63
    other_env = config_with(MODEL_ENVIRONMENT='{"SAGEMAKER_PROGRAM": "inference.py"}')
    assert deployment_plan.model_name(MODEL, other_env) != name
    one = deployment_plan.endpoint_config_name(MODEL, name, "AllTraffic", 1, CONFIG)
    two = deployment_plan.endpoint_config_name(MODEL, name, "AllTraffic", 2, CONFIG)
    assert one != two and len(one) <= 63
    long_endpoint = config_with(ENDPOINT_NAME="e" * 63)
    assert len(deployment_plan.model_name(MODEL, long_endpoint)) == 63


@pytest.mark.parametrize(
    ("instance_type", "kms"),
    [("ml.g5.2xlarge", None), ("ml.g4dn.xlarge", None), ("ml.p4d.24xlarge", None), ("ml.m5.xlarge", KMS)],
)
def test_endpoint_volume_key_only_where_sagemaker_accepts_one(instance_type, kms):
    request = deployment_plan.build_create_endpoint_config_request(
        config_with(INSTANCE_TYPE=instance_type), "model", "cfg", "AllTraffic", 2
    )
    assert request.get("KmsKeyId") == kms
    assert request["ProductionVariants"] == [
        {
            "VariantName": "AllTraffic",
            "ModelName": "model",
            "InstanceType": instance_type,
            "InitialInstanceCount": 2,
            "InitialVariantWeight": 1.0,
        }
    ]


def test_instance_type_change_of_an_auto_scaled_variant_is_refused_with_the_way_out():
    assert deployment_plan.autoscaling_conflict("ml.g4dn.xlarge", CONFIG, variant_is_scalable=True) is None
    assert deployment_plan.autoscaling_conflict("ml.g5.xlarge", CONFIG, variant_is_scalable=False) is None
    message = deployment_plan.autoscaling_conflict("ml.g5.xlarge", CONFIG, variant_is_scalable=True)
    assert "auto-scaled on ml.g5.xlarge" in message and "cdk deploy" in message


def test_stack_update_reuses_template_and_every_parameter():
    stack = {
        "StackName": STACK,
        "Parameters": [
            {"ParameterKey": "DeployedModelDataUrl", "ParameterValue": PARAMETER},
            {"ParameterKey": "BootstrapVersion", "ParameterValue": "/cdk-bootstrap/hnb659fds/version"},
        ],
    }
    assert deployment_plan.build_stack_update_request(stack) == STACK_UPDATE


# --- the handler --------------------------------------------------------------------------------------------


class Routed:
    """The SageMaker client the handler sees: moto for every call except UpdateEndpoint, which moto lacks."""

    def __init__(self, moto_client, stubbed_client):
        self._moto = moto_client
        self.update_endpoint = stubbed_client.update_endpoint

    def __getattr__(self, name):
        return getattr(self._moto, name)


@pytest.fixture
def aws(monkeypatch):
    fake_credentials(monkeypatch)
    with mock_aws():
        names = ("sagemaker", "ssm", "sns", "sqs", "application-autoscaling")
        clients = {name: boto3.client(name, region_name=REGION) for name in names}
        clients["sagemaker"].create_model_package_group(ModelPackageGroupName=GROUP)
        clients["ssm"].put_parameter(Name=PARAMETER, Value="none", Type="String")
        topic_arn = clients["sns"].create_topic(Name="mlops")["TopicArn"]
        update_client = boto3.client("sagemaker", region_name=REGION)
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        handler_clients = {
            "sagemaker": Routed(clients["sagemaker"], update_client),
            "ssm": clients["ssm"],
            "sns": clients["sns"],
            "cloudformation": cloudformation,
            "application-autoscaling": clients["application-autoscaling"],
        }
        serve_handler_from(
            monkeypatch, handler, handler_clients, {**ENVIRONMENT, "NOTIFICATION_TOPIC_ARN": topic_arn}
        )
        with Stubber(update_client) as update_stub, Stubber(cloudformation) as cloudformation_stub:
            yield type(
                "Aws",
                (),
                {
                    "clients": clients,
                    "inbox": SnsInbox(clients["sns"], clients["sqs"], topic_arn),
                    "update_stub": update_stub,
                    "cloudformation_stub": cloudformation_stub,
                    "created_models": record_requests(clients["sagemaker"], "CreateModel"),
                    "created_configs": record_requests(clients["sagemaker"], "CreateEndpointConfig"),
                },
            )
            update_stub.assert_no_pending_responses()
            cloudformation_stub.assert_no_pending_responses()


def register(aws, job: str, status: str = "Approved") -> str:
    response = aws.clients["sagemaker"].create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": model_url(job)}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus=status,
    )
    return response["ModelPackageArn"]


def model_url(job: str) -> str:
    return f"s3://mlc-models/training-jobs/{job}/output/model.tar.gz"


def live_endpoint(aws, job: str, instances: int = 1, instance_type: str = "ml.g4dn.xlarge") -> None:
    """An endpoint already serving `job`'s model, as the serving stack leaves it."""
    sagemaker = aws.clients["sagemaker"]
    sagemaker.create_model(
        ModelName=f"live-{job}",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": model_url(job)},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"live-{job}",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"live-{job}",
                "InstanceType": instance_type,
                "InitialInstanceCount": instances,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"live-{job}")
    aws.clients["ssm"].put_parameter(Name=PARAMETER, Value=model_url(job), Type="String", Overwrite=True)


def created_by_deployer(requests: list[dict]) -> list[dict]:
    """CreateModel / CreateEndpointConfig requests other than the test's own `live-*` set-up."""
    return [
        r for r in requests if not (r.get("ModelName") or r.get("EndpointConfigName")).startswith("live-")
    ]


def approved_event(package_arn: str, status: str = "Approved") -> dict:
    return {
        "version": "0",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "detail": {
            "ModelPackageGroupName": GROUP,
            "ModelPackageArn": package_arn,
            "ModelApprovalStatus": status,
        },
    }


def recorded_model(aws) -> str:
    return aws.clients["ssm"].get_parameter(Name=PARAMETER)["Parameter"]["Value"]


def expect_update(aws, fleet_size: int):
    aws.update_stub.add_response(
        "update_endpoint",
        {"EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{ENDPOINT}"},
        {
            "EndpointName": ENDPOINT,
            "EndpointConfigName": ANY,
            "DeploymentConfig": deployment_plan.build_update_endpoint_request(CONFIG, "x", fleet_size)[
                "DeploymentConfig"
            ],
        },
    )


def test_approved_model_rolls_out_blue_green_on_the_live_endpoint(aws):
    live_endpoint(aws, "job-1")
    package = register(aws, "job-2")
    expect_update(aws, fleet_size=1)

    result = handler.lambda_handler(approved_event(package), None)

    assert result["status"] == "deploying"
    assert result["previous_model_data_url"] == model_url("job-1")
    model = aws.clients["sagemaker"].describe_model(ModelName=result["model_name"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == model_url("job-2")
    assert model["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    endpoint_config = aws.clients["sagemaker"].describe_endpoint_config(
        EndpointConfigName=result["endpoint_config_name"]
    )
    [variant] = endpoint_config["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"  # blue/green needs the live variant name
    assert variant["ModelName"] == result["model_name"]
    assert "KmsKeyId" not in endpoint_config  # g4dn: local NVMe, encrypted in hardware
    assert recorded_model(aws) == model_url("job-2")
    [notification] = aws.inbox.messages()
    assert notification["subject"] == f"Deployment started: {ENDPOINT}"
    assert notification["details"]["rollback_alarms"] == ["mlc-model-errors", "mlc-5xx", "mlc-p99-latency"]


def test_larger_fleet_gets_a_canary(aws):
    live_endpoint(aws, "job-1", instances=4)
    expect_update(aws, fleet_size=4)

    result = handler.lambda_handler(approved_event(register(aws, "job-2")), None)

    assert result["traffic_routing"]["CanarySize"] == {"Type": "INSTANCE_COUNT", "Value": 1}
    [config_request] = created_by_deployer(aws.created_configs)
    assert config_request["ProductionVariants"][0]["InitialInstanceCount"] == 4


def test_retried_deployment_reuses_the_model_and_endpoint_config(aws):
    live_endpoint(aws, "job-1")
    package = register(aws, "job-2")
    expect_update(aws, fleet_size=1)
    expect_update(aws, fleet_size=1)

    first = handler.lambda_handler(approved_event(package), None)
    second = handler.lambda_handler(approved_event(package), None)

    assert first["endpoint_config_name"] == second["endpoint_config_name"]
    assert len(created_by_deployer(aws.created_models)) == len(created_by_deployer(aws.created_configs)) == 1


def test_first_approved_model_brings_the_endpoint_up_through_the_serving_stack(aws):
    package = register(aws, "job-1")
    parameters = [
        {"ParameterKey": "DeployedModelDataUrl", "ParameterValue": PARAMETER, "ResolvedValue": "none"},
        {"ParameterKey": "BootstrapVersion", "ParameterValue": "/cdk-bootstrap/hnb659fds/version"},
    ]
    stack = {
        "StackName": STACK,
        "StackStatus": "CREATE_COMPLETE",
        "CreationTime": "2025-01-01",
        "Parameters": parameters,
    }
    aws.cloudformation_stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": STACK})
    aws.cloudformation_stub.add_response(
        "update_stack",
        {"StackId": f"arn:aws:cloudformation:{REGION}:123456789012:stack/{STACK}/1"},
        STACK_UPDATE,
    )

    result = handler.lambda_handler(approved_event(package), None)

    assert result["status"] == "creating_endpoint"
    assert recorded_model(aws) == model_url("job-1")  # written before the stack re-reads it
    assert created_by_deployer(aws.created_models) == created_by_deployer(aws.created_configs) == []
    [notification] = aws.inbox.messages()
    assert notification["subject"] == f"First deployment started: {ENDPOINT}"


def test_first_deployment_waits_for_a_busy_serving_stack(aws):
    package = register(aws, "job-1")
    stack = {"StackName": STACK, "StackStatus": "UPDATE_IN_PROGRESS", "CreationTime": "2025-01-01"}
    aws.cloudformation_stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": STACK})

    result = handler.lambda_handler(approved_event(package), None)

    assert result["status"] == "stack_busy"
    assert f"python -m deployment.cli deploy {package}" in result["message"]
    assert recorded_model(aws) == "none"


def test_first_deployment_reports_a_stack_that_does_not_change(aws):
    package = register(aws, "job-1")
    stack = {
        "StackName": STACK,
        "StackStatus": "UPDATE_COMPLETE",
        "CreationTime": "2025-01-01",
        "Parameters": [],
    }
    aws.cloudformation_stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": STACK})
    aws.cloudformation_stub.add_client_error(
        "update_stack", "ValidationError", "No updates are to be performed."
    )

    result = handler.lambda_handler(approved_event(package), None)

    assert result["status"] == "stack_unchanged"
    assert aws.inbox.messages()[0]["subject"] == f"Deployment stuck: {ENDPOINT}"


def test_approving_the_live_model_again_changes_nothing(aws):
    live_endpoint(aws, "job-1")

    result = handler.lambda_handler(approved_event(register(aws, "job-1")), None)

    assert result["status"] == "already_deployed"
    assert created_by_deployer(aws.created_models) == [] and aws.inbox.messages() == []


def test_pending_package_is_not_deployed_even_when_asked_directly(aws):
    live_endpoint(aws, "job-1")
    package = register(aws, "job-2", status="PendingManualApproval")

    result = handler.lambda_handler({"model_package_arn": package, "reason": "rollback"}, None)

    assert result["status"] == "not_approved"
    assert recorded_model(aws) == model_url("job-1")


def test_rollback_to_an_older_approved_package_is_a_normal_deployment(aws):
    old = register(aws, "job-1")
    live_endpoint(aws, "job-2")
    expect_update(aws, fleet_size=1)

    result = handler.lambda_handler({"model_package_arn": old, "reason": "rollback requested by ops"}, None)

    assert result["status"] == "deploying"
    assert result["reason"] == "rollback requested by ops"
    assert recorded_model(aws) == model_url("job-1")


def test_auto_scaled_variant_keeps_its_instance_type_or_the_deployment_is_refused(aws):
    live_endpoint(aws, "job-1", instance_type="ml.g4dn.2xlarge")
    aws.clients["application-autoscaling"].register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{ENDPOINT}/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=4,
    )

    result = handler.lambda_handler(approved_event(register(aws, "job-2")), None)

    assert result["status"] == "refused"
    assert "auto-scaled on ml.g4dn.2xlarge" in result["message"]
    assert created_by_deployer(aws.created_models) == [] and recorded_model(aws) == model_url("job-1")
    assert aws.inbox.messages()[0]["subject"] == f"Deployment refused: {ENDPOINT}"


def test_auto_scaled_variant_gets_a_new_model_on_the_same_instance_type(aws):
    live_endpoint(aws, "job-1")
    aws.clients["application-autoscaling"].register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{ENDPOINT}/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=4,
    )
    expect_update(aws, fleet_size=1)

    assert handler.lambda_handler(approved_event(register(aws, "job-2")), None)["status"] == "deploying"


def test_busy_endpoint_is_left_alone_and_the_way_to_retry_is_notified(aws):
    """Stubber: moto endpoints are always InService."""
    package = register(aws, "job-2")
    described = {
        "ModelPackageName": GROUP,
        "ModelPackageArn": package,
        "ModelPackageVersion": 1,
        "CreationTime": "2025-01-01",
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": model_url("job-2")}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    }
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    clients = dict(handler._clients(REGION), sagemaker=sagemaker)
    with Stubber(sagemaker) as stub:
        stub.add_response("describe_model_package", described, {"ModelPackageName": package})
        stub.add_response(
            "describe_endpoint",
            {
                "EndpointName": ENDPOINT,
                "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/mlc-endpoint",
                "EndpointStatus": "Updating",
                "CreationTime": "2025-01-01",
                "LastModifiedTime": "2025-01-01",
            },
            {"EndpointName": ENDPOINT},
        )
        result = handler.handle(approved_event(package), CONFIG, clients)
    assert result["status"] == "endpoint_busy"
    assert "is Updating; nothing was changed" in result["message"]
    assert f"deployment.cli deploy {package}" in result["message"]


def test_rolled_back_deployment_corrects_the_deployed_model_record(aws):
    live_endpoint(aws, "job-1")
    aws.clients["ssm"].put_parameter(Name=PARAMETER, Value=model_url("job-2"), Type="String", Overwrite=True)
    event = {
        "detail-type": "SageMaker Endpoint Deployment State Change",
        "source": "aws.sagemaker",
        "detail": {"EndpointName": ENDPOINT},
    }

    result = handler.lambda_handler(event, None)

    assert result["status"] == "record_corrected"
    assert recorded_model(aws) == model_url("job-1")
    assert aws.inbox.messages()[0]["subject"] == f"Deployment rolled back: {ENDPOINT}"
    assert handler.lambda_handler(event, None)["status"] == "in_sync"


@pytest.mark.parametrize(
    "event",
    [
        approved_event(
            "arn:aws:sagemaker:us-east-1:123456789012:model-package/mlc-models/1", status="Rejected"
        ),
        {"detail-type": "SageMaker Endpoint State Change", "detail": {"EndpointName": "someone-elses"}},
        {"hello": "world"},
    ],
)
def test_other_events_are_ignored(aws, event):
    assert handler.lambda_handler(event, None)["status"] == "ignored"
