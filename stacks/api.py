"""The REST front door: `POST /classify` straight into SageMaker runtime InvokeEndpoint (no Lambda in the path).

The request body is validated by API Gateway against the same JSON Schema the inference handler uses
(inference/request_schema.json, read here, never copied). Every error the caller can see has the body
`{"error": "<code>", "message": "<text>"}`: the container's own 4xx body is passed through as a 400, endpoint
faults become a generic 502/503 without internals, and API Gateway's own responses use the same shape.
"""

from __future__ import annotations

import json
import re

from aws_cdk import Aws, CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.compliance import acknowledge, skip_checkov
from stacks.config import AppConfig
from stacks.encryption import encrypted_log_group
from stacks.lambdas import REPO_ROOT

#: The inference handler's schemas, one source of truth: the request model validates bodies, the response and
#: error models document what POST /classify answers.
SCHEMA_DIR = REPO_ROOT / "inference"
STAGE_NAME = "v1"
JSON = "application/json"

#: Integration response for InvokeEndpoint's ModelError (HTTP 424): the container answered with an error.
#: A container 4xx (bad input) reaches the caller as 400 with the container's own JSON body; a container 5xx
#: becomes a generic 502. A body that is not JSON is wrapped so the caller always gets {"error","message"}.
MODEL_ERROR_TEMPLATE = r"""#set($original = $input.path('$.OriginalStatusCode'))
#if($original >= 400 && $original < 500)
#set($message = $input.path('$.OriginalMessage'))
#if($message.trim().startsWith("{"))
$message
#else
{"error": "invalid_request", "message": "$util.escapeJavaScript($message).replaceAll("\\'", "'")"}
#end
#else
#set($context.responseOverride.status = 502)
{"error": "model_error", "message": "The model could not process the request."}
#end"""
#: Any other InvokeEndpoint failure (no endpoint yet, throttling, service fault): nothing internal leaks out.
UNAVAILABLE_BODY = '{"error": "service_unavailable", "message": "The classifier is not available right now. Try again later."}'

#: Backend status patterns (Java regex on InvokeEndpoint's HTTP status) -> the status the caller gets.
MODEL_ERROR_PATTERN = "424"
OTHER_CLIENT_ERROR_PATTERN = r"4(?:[013-9]\d|2[0-35-9])"  # every 4xx except 424
SERVER_ERROR_PATTERN = r"5\d{2}"

#: API Gateway's own error responses -> (error code, message). `$context.error.validationErrorString` is the
#: schema validator's explanation; `$context.error.messageString` is API Gateway's message, already quoted.
GATEWAY_ERRORS: dict[str, tuple[str, str]] = {
    "BAD_REQUEST_BODY": ("invalid_request", '"$context.error.validationErrorString"'),
    "BAD_REQUEST_PARAMETERS": ("invalid_request", "$context.error.messageString"),
    "UNSUPPORTED_MEDIA_TYPE": ("unsupported_media_type", '"Send the request body as application/json."'),
    "REQUEST_TOO_LARGE": ("request_too_large", "$context.error.messageString"),
    "MISSING_AUTHENTICATION_TOKEN": ("missing_authentication", "$context.error.messageString"),
    "ACCESS_DENIED": ("access_denied", "$context.error.messageString"),
    "INVALID_SIGNATURE": ("invalid_signature", "$context.error.messageString"),
    "EXPIRED_TOKEN": ("expired_token", "$context.error.messageString"),
    "INVALID_API_KEY": ("invalid_api_key", "$context.error.messageString"),
    "THROTTLED": ("throttled", "$context.error.messageString"),
    "QUOTA_EXCEEDED": ("quota_exceeded", "$context.error.messageString"),
    "INTEGRATION_TIMEOUT": (
        "timeout",
        '"The classifier did not answer in time. Try again with fewer texts."',
    ),
    "DEFAULT_4XX": ("client_error", "$context.error.messageString"),
    "DEFAULT_5XX": ("server_error", "$context.error.messageString"),
}


def json_schema(document: dict) -> apigw.JsonSchema:
    """Convert a JSON Schema (draft-04) document into CDK's JsonSchema, keyword by keyword."""
    kwargs = {}
    for keyword, value in document.items():
        if keyword == "$schema":
            if value != "http://json-schema.org/draft-04/schema#":
                raise ValueError(f"API Gateway models are JSON Schema draft-04, not {value!r}")
            kwargs["schema"] = apigw.JsonSchemaVersion.DRAFT4
            continue
        name = "ref" if keyword == "$ref" else re.sub(r"(?<!^)([A-Z])", r"_\1", keyword).lower()
        if keyword == "type":
            value = (
                [apigw.JsonSchemaType[t.upper()] for t in value]
                if isinstance(value, list)
                else apigw.JsonSchemaType[value.upper()]
            )
        elif keyword in ("properties", "patternProperties", "definitions"):
            value = {key: json_schema(sub) for key, sub in value.items()}
        elif keyword in ("oneOf", "anyOf", "allOf"):
            value = [json_schema(sub) for sub in value]
        elif isinstance(value, dict) and keyword in (
            "items",
            "additionalProperties",
            "additionalItems",
            "not",
        ):
            value = json_schema(value)
        kwargs[name] = value
    return apigw.JsonSchema(**kwargs)


def load_schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}_schema.json").read_text())


class ClassifyApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        access_logs = encrypted_log_group(self, "AccessLogs", config=config, key=key)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{config.name_prefix}-api",
            description=f"{config.name_prefix}: multi-label text classification (POST /{STAGE_NAME}/classify)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=config.api_throttle_rate_limit,
                throttling_burst_limit=config.api_throttle_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=_access_log_format(),
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # never log request bodies: they are customer text
            ),
        )
        request_model, response_model, error_model = (
            self.api.add_model(
                name, content_type=JSON, model_name=name, schema=json_schema(load_schema(schema))
            )
            for name, schema in (
                ("ClassifyRequest", "request"),
                ("ClassifyResponse", "response"),
                ("Error", "error"),
            )
        )
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )

        invoke_role = iam.Role(
            self,
            "InvokeEndpointRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description=f"{config.name_prefix}: API Gateway calls InvokeEndpoint on this app's endpoint only",
            inline_policies={
                "InvokeEndpoint": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["sagemaker:InvokeEndpoint"],
                            resources=[
                                f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:endpoint/{config.endpoint_name}"
                            ],
                        )
                    ]
                )
            },
        )
        integration = apigw.AwsIntegration(
            service="runtime.sagemaker",
            path=f"endpoints/{config.endpoint_name}/invocations",
            integration_http_method="POST",
            options=apigw.IntegrationOptions(
                credentials_role=invoke_role,
                passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                request_parameters={
                    "integration.request.header.Content-Type": f"'{JSON}'",
                    "integration.request.header.Accept": f"'{JSON}'",
                },
                request_templates={JSON: "$input.body"},
                timeout=Duration.seconds(29),
                integration_responses=[
                    apigw.IntegrationResponse(status_code="200"),
                    apigw.IntegrationResponse(
                        status_code="400",
                        selection_pattern=MODEL_ERROR_PATTERN,
                        response_templates={JSON: MODEL_ERROR_TEMPLATE},
                    ),
                    apigw.IntegrationResponse(
                        status_code="503",
                        selection_pattern=OTHER_CLIENT_ERROR_PATTERN,
                        response_templates={JSON: UNAVAILABLE_BODY},
                    ),
                    apigw.IntegrationResponse(
                        status_code="503",
                        selection_pattern=SERVER_ERROR_PATTERN,
                        response_templates={JSON: UNAVAILABLE_BODY},
                    ),
                ],
            ),
        )
        self.method = self.api.root.add_resource("classify").add_method(
            "POST",
            integration,
            authorization_type=apigw.AuthorizationType.IAM
            if config.uses_iam_auth
            else apigw.AuthorizationType.NONE,
            api_key_required=config.uses_api_keys,
            request_models={JSON: request_model},
            request_validator=validator,
            method_responses=[
                apigw.MethodResponse(status_code="200", response_models={JSON: response_model}),
                *(
                    apigw.MethodResponse(status_code=code, response_models={JSON: error_model})
                    for code in ("400", "502", "503")
                ),
            ],
        )
        for response_type, (code, message) in GATEWAY_ERRORS.items():
            self.api.add_gateway_response(
                response_type.title().replace("_", ""),
                type=apigw.ResponseType.of(response_type),
                templates={JSON: f'{{"error": "{code}", "message": {message}}}'},
            )
        if config.uses_api_keys:
            self._add_usage_plan(config)
        self._acknowledge(config)

    def _add_usage_plan(self, config: AppConfig) -> None:
        plan = self.api.add_usage_plan(
            "UsagePlan",
            name=f"{config.name_prefix}-default",
            throttle=apigw.ThrottleSettings(
                rate_limit=config.api_throttle_rate_limit, burst_limit=config.api_throttle_burst_limit
            ),
            quota=apigw.QuotaSettings(limit=config.api_quota_requests_per_day, period=apigw.Period.DAY),
        )
        plan.add_api_stage(stage=self.api.deployment_stage)
        api_key = self.api.add_api_key("DefaultApiKey", api_key_name=f"{config.name_prefix}-default")
        plan.add_api_key(api_key)
        CfnOutput(self, "ApiKeyId", value=api_key.key_id)

    def _acknowledge(self, config: AppConfig) -> None:
        skip_checkov(
            self.api.deployment_stage,
            "CKV_AWS_120",
            "POST /classify answers are per request body; a cache would hold customer text and save no model calls.",
        )
        acknowledge(
            self.api,
            "APIG3",
            "Callers are authenticated (SigV4 and/or API keys) and throttled per stage and usage plan; a WAF web "
            "ACL is an organisation-wide choice (cost, rules) left to the platform team to attach.",
        )
        acknowledge(
            self.method,
            "COG4",
            "Machine-to-machine API: callers sign requests with IAM (SigV4) or present API keys; no end-user pool.",
        )
        if not config.uses_iam_auth:
            acknowledge(
                self.method,
                "APIG4",
                "api_auth=api_key was chosen in the configuration: every call must present a usage-plan API key.",
            )
        acknowledge(
            self.api,
            "IAM4",
            "API Gateway's account-level logging role uses the AWS managed push-to-CloudWatch policy by design.",
            finding="Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
        )


def _access_log_format() -> apigw.AccessLogFormat:
    field = apigw.AccessLogField
    fields = {
        "requestId": field.context_request_id(),
        "requestTime": field.context_request_time(),
        "ip": field.context_identity_source_ip(),
        "caller": field.context_identity_caller(),
        "user": field.context_identity_user(),
        "apiKeyId": field.context_identity_api_key_id(),
        "httpMethod": field.context_http_method(),
        "resourcePath": field.context_resource_path(),
        "protocol": field.context_protocol(),
        "status": field.context_status(),
        "responseLength": field.context_response_length(),
        "responseLatency": field.context_response_latency(),
        "integrationStatus": field.context_integration_status(),
        "integrationLatency": field.context_integration_latency(),
        "errorMessage": field.context_error_message(),
        "validationError": field.context_error_validation_error_string(),
        "xrayTraceId": field.context_xray_trace_id(),
    }
    return apigw.AccessLogFormat.custom(json.dumps(fields))
