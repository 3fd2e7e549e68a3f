"""Serving stack: the conditional endpoint, autoscaling, the API front door and its error mapping, monitoring.

Assertions on templates synthesized once per session (tests/conftest.py: `cdk_app` with the defaults, and
`cdk_app_variant`: api_key auth, an explicit model_data_url, ml.p3.2xlarge, 2..6 instances). The API's
integration response templates are rendered with a real Velocity engine (tests/support/vtl.py), since no AWS
account is available to call the deployed API.
"""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from aws_cdk.assertions import Annotations, Match

from stacks.api import GATEWAY_ERRORS, MODEL_ERROR_PATTERN, OTHER_CLIENT_ERROR_PATTERN, SERVER_ERROR_PATTERN
from tests.support.cdk_app import REPO_ROOT, flatten
from tests.support.vtl import render_integration_response

CONDITIONAL_TYPES = (
    "AWS::SageMaker::Model",
    "AWS::SageMaker::EndpointConfig",
    "AWS::SageMaker::Endpoint",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
)
#: The error body contract, as the inference handler publishes it.
ERROR_BODY = json.loads((REPO_ROOT / "inference" / "error_schema.json").read_text())


def _one(app, resource_type: str) -> dict:
    (resource,) = app.resources("serving", resource_type).values()
    return resource


def _method(app) -> dict:
    return _one(app, "AWS::ApiGateway::Method")["Properties"]


# ---- model source: SSM parameter + condition, or explicit model_data_url ----------------------------------


def test_model_comes_from_the_deployed_model_parameter_under_a_condition(cdk_app):
    template = cdk_app.templates["serving"]
    parameter = template["Parameters"]["DeployedModelDataUrl"]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == "/textclf/deployed-model/model-data-url"
    assert template["Conditions"]["ModelExists"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "DeployedModelDataUrl"}, "none"]}]
    }
    model = _one(cdk_app, "AWS::SageMaker::Model")
    assert model["Properties"]["PrimaryContainer"]["ModelDataUrl"] == {"Ref": "DeployedModelDataUrl"}
    for resource_type in CONDITIONAL_TYPES:
        for resource in cdk_app.resources("serving", resource_type).values():
            assert resource.get("Condition") == "ModelExists", resource_type
    alarms = cdk_app.resources("serving", "AWS::CloudWatch::Alarm").values()
    endpoint_alarms = [a for a in alarms if a["Properties"]["AlarmName"].startswith("textclf-endpoint-")]
    assert len(endpoint_alarms) == 3 and all(a.get("Condition") == "ModelExists" for a in endpoint_alarms)
    # The API does not wait for a model: it answers 503 until the endpoint exists.
    assert "Condition" not in _one(cdk_app, "AWS::ApiGateway::Method")


def test_synth_says_when_the_endpoint_will_come_up(cdk_app, cdk_app_variant):
    Annotations.from_stack(cdk_app.application.serving).has_info(
        "*",
        Match.string_like_regexp(r"No model_data_url is configured.*/textclf/deployed-model/model-data-url"),
    )
    Annotations.from_stack(cdk_app_variant.application.serving).has_no_info(
        "*", Match.string_like_regexp("No model_data_url")
    )


def test_explicit_model_data_url_bypasses_the_parameter(cdk_app_variant):
    template = cdk_app_variant.templates["serving"]
    assert "DeployedModelDataUrl" not in template.get("Parameters", {})
    assert "Conditions" not in template
    model = _one(cdk_app_variant, "AWS::SageMaker::Model")
    assert (
        model["Properties"]["PrimaryContainer"]["ModelDataUrl"] == "s3://example-models/textclf/model.tar.gz"
    )
    policies = cdk_app_variant.resources("serving", "AWS::IAM::Policy").values()
    (statement,) = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert statement["Action"] == "s3:GetObject"
    assert flatten(statement["Resource"]) == "arn:${AWS::Partition}:s3:::example-models/textclf/model.tar.gz"


# ---- endpoint ------------------------------------------------------------------------------------------------


def test_model_runs_the_custom_handler_on_the_regional_inference_dlc(cdk_app):
    props = _one(cdk_app, "AWS::SageMaker::Model")["Properties"]
    container = props["PrimaryContainer"]
    assert flatten(container["Image"]) == "${Map:DlcImagesMapping90D55EFE:${AWS::Region}:inferenceUri}"
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["Environment"]["SAGEMAKER_MODEL_SERVER_WORKERS"] == "1"
    assert container["Environment"]["SAGEMAKER_MODEL_SERVER_TIMEOUT"] == "60"
    assert props["EnableNetworkIsolation"] is True
    mapping = cdk_app.templates["serving"]["Mappings"]["DlcImagesMapping90D55EFE"]
    assert (
        "huggingface-pytorch-inference:2.6.0-transformers4.49.0-gpu-py312"
        in mapping["eu-central-1"]["inferenceUri"]
    )


def test_endpoint_config_is_a_gpu_variant_and_keys_only_ebs_instances(cdk_app, cdk_app_variant):
    (variant,) = _one(cdk_app, "AWS::SageMaker::EndpointConfig")["Properties"]["ProductionVariants"]
    assert variant["InstanceType"] == "ml.g4dn.xlarge" and variant["InitialInstanceCount"] == 1
    assert variant["VariantName"] == "AllTraffic"
    assert (
        "KmsKeyId" not in _one(cdk_app, "AWS::SageMaker::EndpointConfig")["Properties"]
    )  # NVMe: no key allowed
    variant_config = _one(cdk_app_variant, "AWS::SageMaker::EndpointConfig")["Properties"]
    assert variant_config["ProductionVariants"][0]["InstanceType"] == "ml.p3.2xlarge"
    assert variant_config["ProductionVariants"][0]["InitialInstanceCount"] == 2
    assert "Fn::ImportValue" in variant_config["KmsKeyId"]


def test_endpoint_has_the_contract_name(cdk_app, cdk_app_variant):
    assert _one(cdk_app, "AWS::SageMaker::Endpoint")["Properties"]["EndpointName"] == "textclf-endpoint"
    assert (
        _one(cdk_app_variant, "AWS::SageMaker::Endpoint")["Properties"]["EndpointName"] == "variant-endpoint"
    )


# ---- autoscaling ---------------------------------------------------------------------------------------------


def test_autoscaling_tracks_invocations_per_instance_out_fast_in_slowly(cdk_app, cdk_app_variant):
    target = _one(cdk_app, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert flatten(target["ResourceId"]).endswith("/variant/AllTraffic")
    assert "RoleARN" not in target  # SageMaker's service-linked role
    policy = _one(cdk_app, "AWS::ApplicationAutoScaling::ScalingPolicy")["Properties"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert tracking["TargetValue"] == 600
    assert tracking["ScaleOutCooldown"] == 60 and tracking["ScaleInCooldown"] == 600
    variant = _one(cdk_app_variant, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert (variant["MinCapacity"], variant["MaxCapacity"]) == (2, 6)


# ---- API -----------------------------------------------------------------------------------------------------


def test_api_is_regional_with_post_classify_straight_to_invoke_endpoint(cdk_app):
    api = _one(cdk_app, "AWS::ApiGateway::RestApi")["Properties"]
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    (resource,) = cdk_app.resources("serving", "AWS::ApiGateway::Resource").values()
    assert resource["Properties"]["PathPart"] == "classify"
    method = _method(cdk_app)
    assert method["HttpMethod"] == "POST"
    integration = method["Integration"]
    assert integration["Type"] == "AWS" and integration["IntegrationHttpMethod"] == "POST"
    assert flatten(integration["Uri"]) == (
        "arn:${AWS::Partition}:apigateway:${AWS::Region}:runtime.sagemaker:path/endpoints/textclf-endpoint/invocations"
    )
    assert not cdk_app.resources("serving", "AWS::Lambda::Function")
    assert integration["PassthroughBehavior"] == "NEVER"
    assert integration["RequestTemplates"] == {"application/json": "$input.body"}


def test_integration_role_may_only_invoke_this_endpoint(cdk_app):
    role_id = _method(cdk_app)["Integration"]["Credentials"]["Fn::GetAtt"][0]
    role = cdk_app.templates["serving"]["Resources"][role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "sagemaker:InvokeEndpoint"
    assert (
        flatten(statement["Resource"])
        == "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/textclf-endpoint"
    )


@pytest.mark.parametrize(
    ("model", "schema"),
    [("ClassifyRequest", "request"), ("ClassifyResponse", "response"), ("Error", "error")],
)
def test_api_models_are_the_inference_schema_files(cdk_app, model, schema):
    models = {
        m["Properties"]["Name"]: m for m in cdk_app.resources("serving", "AWS::ApiGateway::Model").values()
    }
    schema_file = json.loads((REPO_ROOT / "inference" / f"{schema}_schema.json").read_text())
    assert models[model]["Properties"]["Schema"] == schema_file
    assert models[model]["Properties"]["ContentType"] == "application/json"


def test_request_body_is_validated_against_the_request_model(cdk_app):
    method = _method(cdk_app)
    model_id = method["RequestModels"]["application/json"]["Ref"]
    assert cdk_app.templates["serving"]["Resources"][model_id]["Properties"]["Name"] == "ClassifyRequest"
    (validator,) = cdk_app.resources("serving", "AWS::ApiGateway::RequestValidator").values()
    assert validator["Properties"]["ValidateRequestBody"] is True
    assert method["RequestValidatorId"]


def test_iam_auth_by_default_and_api_keys_with_a_usage_plan_when_chosen(cdk_app, cdk_app_variant):
    assert _method(cdk_app)["AuthorizationType"] == "AWS_IAM" and _method(cdk_app)["ApiKeyRequired"] is False
    assert not cdk_app.resources("serving", "AWS::ApiGateway::UsagePlan")
    method = _method(cdk_app_variant)
    assert method["AuthorizationType"] == "NONE" and method["ApiKeyRequired"] is True
    plan = _one(cdk_app_variant, "AWS::ApiGateway::UsagePlan")["Properties"]
    assert plan["Throttle"] == {"RateLimit": 50, "BurstLimit": 100}
    assert plan["Quota"] == {"Limit": 100000, "Period": "DAY"}
    assert len(plan["ApiStages"]) == 1
    assert cdk_app_variant.resources("serving", "AWS::ApiGateway::ApiKey")
    assert cdk_app_variant.resources("serving", "AWS::ApiGateway::UsagePlanKey")


def test_stage_throttles_traces_and_logs_json_without_bodies(cdk_app):
    stage = _one(cdk_app, "AWS::ApiGateway::Stage")["Properties"]
    assert stage["StageName"] == "v1" and stage["TracingEnabled"] is True
    (settings,) = stage["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == 50 and settings["ThrottlingBurstLimit"] == 100
    assert settings["DataTraceEnabled"] is False and settings["LoggingLevel"] == "ERROR"
    access_format = json.loads(stage["AccessLogSetting"]["Format"])
    assert {"requestId", "status", "integrationStatus", "validationError"} <= set(access_format)
    log_group_id = stage["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    log_group = cdk_app.templates["serving"]["Resources"][log_group_id]["Properties"]
    assert log_group["RetentionInDays"] == 90 and "KmsKeyId" in log_group


def _integration_responses(app) -> dict[str, dict]:
    return {r.get("SelectionPattern", ""): r for r in _method(app)["Integration"]["IntegrationResponses"]}


def test_backend_status_patterns_do_not_overlap():
    """API Gateway picks the integration response whose pattern matches InvokeEndpoint's status code."""
    for status in range(400, 600):
        matches = [
            p
            for p in (MODEL_ERROR_PATTERN, OTHER_CLIENT_ERROR_PATTERN, SERVER_ERROR_PATTERN)
            if re.fullmatch(p, str(status))
        ]
        assert len(matches) == 1, (status, matches)
    assert re.fullmatch(MODEL_ERROR_PATTERN, "424")


def test_container_4xx_reaches_the_caller_as_400_with_the_containers_body(cdk_app):
    response = _integration_responses(cdk_app)["424"]
    assert response["StatusCode"] == "400"
    container_body = {"error": "too_many_inputs", "message": "inputs has 300 texts; at most 256 are allowed"}
    model_error = {
        "ErrorCode": "CLIENT_ERROR_FROM_MODEL",
        "OriginalStatusCode": 400,
        "OriginalMessage": json.dumps(container_body),
        "Message": "Received client error (400) from primary with message ...",
        "LogStreamArn": "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/Endpoints/textclf-endpoint",
    }
    body, status = render_integration_response(
        response["ResponseTemplates"]["application/json"], json.dumps(model_error)
    )
    assert status is None  # keeps the integration response's 400
    assert json.loads(body) == container_body


def test_container_4xx_without_json_body_is_still_an_error_body(cdk_app):
    template = _integration_responses(cdk_app)["424"]["ResponseTemplates"]["application/json"]
    message = 'Request body "too large"; can\'t parse /invocations\n'
    body, status = render_integration_response(
        template, json.dumps({"OriginalStatusCode": 413, "OriginalMessage": message})
    )
    assert status is None
    parsed = json.loads(body)
    jsonschema.validate(parsed, ERROR_BODY)
    assert parsed["message"] == message


def test_container_5xx_becomes_a_generic_502_without_internals(cdk_app):
    template = _integration_responses(cdk_app)["424"]["ResponseTemplates"]["application/json"]
    secret = "Traceback (most recent call last): File /opt/ml/model/code/inference.py CUDA out of memory"
    body, status = render_integration_response(
        template, json.dumps({"OriginalStatusCode": 500, "OriginalMessage": secret})
    )
    assert status == 502
    parsed = json.loads(body)
    jsonschema.validate(parsed, ERROR_BODY)
    assert "Traceback" not in body and "inference.py" not in body


@pytest.mark.parametrize("pattern", [OTHER_CLIENT_ERROR_PATTERN, SERVER_ERROR_PATTERN])
def test_endpoint_faults_become_503_with_a_generic_body(cdk_app, pattern):
    response = _integration_responses(cdk_app)[pattern]
    assert response["StatusCode"] == "503"
    sagemaker_error = {
        "__type": "ValidationError",
        "message": "Endpoint textclf-endpoint of account 123456789012 not found.",
    }
    body, status = render_integration_response(
        response["ResponseTemplates"]["application/json"], json.dumps(sagemaker_error)
    )
    assert status is None
    parsed = json.loads(body)
    jsonschema.validate(parsed, ERROR_BODY)
    assert parsed["error"] == "service_unavailable" and "123456789012" not in body


def test_method_declares_every_status_it_can_return(cdk_app):
    responses = {
        r["StatusCode"]: r["ResponseModels"]["application/json"] for r in _method(cdk_app)["MethodResponses"]
    }
    assert set(responses) == {"200", "400", "502", "503"}
    resources = cdk_app.templates["serving"]["Resources"]
    names = {status: resources[model["Ref"]]["Properties"]["Name"] for status, model in responses.items()}
    assert names == {"200": "ClassifyResponse", "400": "Error", "502": "Error", "503": "Error"}


def test_gateway_responses_have_the_error_body_shape(cdk_app):
    """Gateway response templates only substitute variables (no VTL): substitute them as API Gateway does."""
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in cdk_app.resources("serving", "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == set(GATEWAY_ERRORS)
    values = {
        "$context.error.validationErrorString": r"[object has missing required properties ([\"inputs\"])]",
        "$context.error.messageString": '"Missing Authentication Token"',
    }
    for response_type, props in responses.items():
        text = props["ResponseTemplates"]["application/json"]
        for variable, value in values.items():
            text = text.replace(variable, value)
        parsed = json.loads(text)
        jsonschema.validate(parsed, ERROR_BODY)
        assert parsed["error"] == GATEWAY_ERRORS[response_type][0]
    bad_body = responses["BAD_REQUEST_BODY"]["ResponseTemplates"]["application/json"]
    assert "$context.error.validationErrorString" in bad_body


# ---- monitoring ----------------------------------------------------------------------------------------------


def test_endpoint_alarms_watch_errors_5xx_and_p99_latency(cdk_app):
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in cdk_app.resources("serving", "AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {
        "textclf-endpoint-model-errors",
        "textclf-endpoint-5xx",
        "textclf-endpoint-p99-latency",
        "textclf-api-5xx",
        "textclf-api-4xx",
    }
    metrics = alarms["textclf-endpoint-model-errors"]["Metrics"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in metrics if "MetricStat" in m} == {
        "InvocationModelErrors",
        "Invocations",
    }
    assert alarms["textclf-endpoint-5xx"]["MetricName"] == "Invocation5XXErrors"
    latency = alarms["textclf-endpoint-p99-latency"]
    assert latency["MetricName"] == "ModelLatency" and latency["ExtendedStatistic"] == "p99"
    assert latency["Threshold"] == 1_000_000  # 1000 ms in microseconds
    assert latency["Dimensions"] == [
        {"Name": "EndpointName", "Value": "textclf-endpoint"},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    assert alarms["textclf-api-5xx"]["MetricName"] == "5XXError"
    for alarm in alarms.values():
        assert alarm["AlarmActions"] and alarm["OKActions"]


def test_dashboard_shows_endpoint_api_and_alarms(cdk_app):
    dashboard = _one(cdk_app, "AWS::CloudWatch::Dashboard")["Properties"]
    assert dashboard["DashboardName"] == "textclf"
    body = flatten(dashboard["DashboardBody"])
    for needle in (
        "ModelLatency",
        "GPUUtilization",
        "InvocationsPerInstance",
        "5XXError",
        "textclf-training-failures",
    ):
        assert needle in body
