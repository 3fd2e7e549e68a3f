"""Deployer Lambda: an approved model package -> the live endpoint, and the deployed-model record kept true.

Triggers:
- EventBridge "SageMaker Model Package State Change" with ModelApprovalStatus Approved (the registrar's gate or
  a person approving in the console / CLI).
- Direct invocation `{"model_package_arn": ..., "reason": ...}` from the ops CLI (roll back to an older
  approved package, or retry a deployment).
- EventBridge "SageMaker Endpoint State Change" / "SageMaker Endpoint Deployment State Change" for the endpoint:
  once it is InService again, the SSM record is corrected if an auto-rollback kept the old model.

If the endpoint exists: new Model + EndpointConfig, then a blue/green UpdateEndpoint (deployment_plan). If not
(first model): write the SSM parameter and update the serving stack, whose Condition then creates the
endpoint from that parameter. Either way the SSM parameter records the deployed model.tar.gz and SNS tells.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from botocore.exceptions import ClientError
from deployer_config import DeployerConfig
from deployment_plan import (
    ApprovedModel,
    autoscaling_conflict,
    build_create_endpoint_config_request,
    build_create_model_request,
    build_stack_update_request,
    build_update_endpoint_request,
    endpoint_config_name,
    green_fleet_size,
    model_name,
    traffic_routing,
)
from mlops_common.aws import aws_clients, describe_or_none
from mlops_common.notifications import notify

logger = logging.getLogger()
logger.setLevel(logging.INFO)

PACKAGE_EVENT = "SageMaker Model Package State Change"
ENDPOINT_EVENTS = ("SageMaker Endpoint State Change", "SageMaker Endpoint Deployment State Change")
#: The default variant name of a SageMaker endpoint (used when the live endpoint names none).
DEFAULT_VARIANT = "AllTraffic"


def _clients(region: str) -> dict[str, Any]:
    return aws_clients(region, ("sagemaker", "ssm", "sns", "cloudformation", "application-autoscaling"))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = DeployerConfig.from_environ(os.environ)
    return handle(event, config, _clients(config.region))


def handle(event: dict[str, Any], config: DeployerConfig, aws: dict[str, Any]) -> dict[str, Any]:
    detail_type = event.get("detail-type")
    detail = event.get("detail") or {}
    if detail_type is None and "model_package_arn" in event:
        return deploy(aws, config, event["model_package_arn"], event.get("reason") or "requested directly")
    if detail_type == PACKAGE_EVENT and detail.get("ModelApprovalStatus") == "Approved":
        return deploy(aws, config, detail["ModelPackageArn"], "model package approved")
    if detail_type in ENDPOINT_EVENTS and detail.get("EndpointName") == config.endpoint_name:
        return reconcile_record(aws, config)
    return {"status": "ignored", "reason": f"nothing to do for {detail_type or sorted(event)}"}


def deploy(aws: dict[str, Any], config: DeployerConfig, package_arn: str, reason: str) -> dict[str, Any]:
    """Roll `package_arn` out: first deployment through the serving stack, later ones blue/green."""
    package = aws["sagemaker"].describe_model_package(ModelPackageName=package_arn)
    if package.get("ModelApprovalStatus") != "Approved":
        return {
            "status": "not_approved",
            "model_package_arn": package_arn,
            "message": f"model package is {package.get('ModelApprovalStatus')}; only Approved packages are deployed",
        }
    model = ApprovedModel.from_description(package)
    summary = {
        "model_package_arn": model.package_arn,
        "model_data_url": model.model_data_url,
        "reason": reason,
    }
    endpoint = describe_or_none(aws["sagemaker"].describe_endpoint, EndpointName=config.endpoint_name)
    if endpoint is None:
        return _first_deployment(aws, config, model, summary)
    if endpoint["EndpointStatus"] != "InService":
        result = {
            **summary,
            "status": "endpoint_busy",
            "message": f"endpoint {config.endpoint_name} is {endpoint['EndpointStatus']}; nothing was changed. "
            f"Deploy it once the endpoint is InService: python -m deployment.cli deploy {model.package_arn}",
        }
        return _tell(aws, config, "Deployment not started", result)
    live = _live_variant(aws["sagemaker"], endpoint)
    if live["model_data_url"] == model.model_data_url:
        _record(aws["ssm"], config, model.model_data_url)
        return {**summary, "status": "already_deployed"}
    conflict = autoscaling_conflict(
        live["instance_type"],
        config,
        _is_scalable(aws["application-autoscaling"], config, live["variant_name"]),
    )
    if conflict:
        result = {**summary, "status": "refused", "message": conflict}
        return _tell(aws, config, "Deployment refused", result)

    fleet_size = green_fleet_size(config, live["instance_count"])
    new_model = _ensure_model(aws["sagemaker"], model, config)
    new_config = _ensure_endpoint_config(
        aws["sagemaker"], model, new_model, live["variant_name"], fleet_size, config
    )
    aws["sagemaker"].update_endpoint(**build_update_endpoint_request(config, new_config, fleet_size))
    _record(aws["ssm"], config, model.model_data_url)
    result = {
        **summary,
        "status": "deploying",
        "endpoint_name": config.endpoint_name,
        "endpoint_config_name": new_config,
        "model_name": new_model,
        "previous_model_data_url": live["model_data_url"],
        "traffic_routing": traffic_routing(config, fleet_size),
        "rollback_alarms": list(config.rollback_alarm_names),
    }
    logger.info("Blue/green update of %s to %s", config.endpoint_name, model.package_arn)
    return _tell(aws, config, "Deployment started", result)


def reconcile_record(aws: dict[str, Any], config: DeployerConfig) -> dict[str, Any]:
    """After an update settles, record what the endpoint really serves (an auto-rollback keeps the old model)."""
    endpoint = describe_or_none(aws["sagemaker"].describe_endpoint, EndpointName=config.endpoint_name)
    if endpoint is None or endpoint["EndpointStatus"] != "InService":
        return {"status": "ignored", "reason": f"endpoint is {endpoint and endpoint['EndpointStatus']}"}
    serving = _live_variant(aws["sagemaker"], endpoint)["model_data_url"]
    recorded = _recorded(aws["ssm"], config)
    if serving == recorded:
        return {"status": "in_sync", "model_data_url": serving}
    _record(aws["ssm"], config, serving)
    result = {
        "status": "record_corrected",
        "endpoint_name": config.endpoint_name,
        "serving_model_data_url": serving,
        "was_recorded": recorded,
        "message": "the endpoint serves a different model than recorded (a deployment was rolled back); "
        "the deployed-model parameter now names the model that is live",
    }
    return _tell(aws, config, "Deployment rolled back", result)


def _first_deployment(
    aws: dict[str, Any], config: DeployerConfig, model: ApprovedModel, summary: dict[str, Any]
) -> dict[str, Any]:
    """No endpoint yet: record the model, then let the serving stack create the endpoint from the record."""
    stack = aws["cloudformation"].describe_stacks(StackName=config.serving_stack_name)["Stacks"][0]
    if stack["StackStatus"].endswith("_IN_PROGRESS"):
        result = {
            **summary,
            "status": "stack_busy",
            "message": f"serving stack {config.serving_stack_name} is {stack['StackStatus']}; nothing was changed. "
            f"Retry when it settles: python -m deployment.cli deploy {model.package_arn}",
        }
        return _tell(aws, config, "Deployment not started", result)
    _record(aws["ssm"], config, model.model_data_url)
    try:
        stack_id = aws["cloudformation"].update_stack(**build_stack_update_request(stack))["StackId"]
    except ClientError as error:
        if "No updates are to be performed" not in str(error):
            raise
        result = {
            **summary,
            "status": "stack_unchanged",
            "message": f"serving stack {config.serving_stack_name} saw no change although the endpoint is missing; "
            "check its DeployedModelDataUrl parameter and Condition (see docs/MLOPS.md)",
        }
        return _tell(aws, config, "Deployment stuck", result)
    result = {
        **summary,
        "status": "creating_endpoint",
        "stack_id": stack_id,
        "endpoint_name": config.endpoint_name,
    }
    logger.info("Serving stack %s updated to create %s", config.serving_stack_name, config.endpoint_name)
    return _tell(aws, config, "First deployment started", result)


def _tell(
    aws: dict[str, Any], config: DeployerConfig, subject: str, result: dict[str, Any]
) -> dict[str, Any]:
    """Notify the platform engineers of `result` (subject + endpoint name) and return it."""
    notify(aws["sns"], config.notification_topic_arn, f"{subject}: {config.endpoint_name}", result)
    return result


def _live_variant(sagemaker: Any, endpoint: dict[str, Any]) -> dict[str, Any]:
    """Name, size, instance type and model.tar.gz of the variant serving now."""
    endpoint_config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    variant = endpoint_config["ProductionVariants"][0]
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    live_counts = {
        v["VariantName"]: v.get("CurrentInstanceCount") for v in endpoint.get("ProductionVariants", [])
    }
    return {
        "variant_name": variant.get("VariantName") or DEFAULT_VARIANT,
        "instance_type": variant.get("InstanceType"),
        "instance_count": live_counts.get(variant.get("VariantName")),
        "model_data_url": model["PrimaryContainer"].get("ModelDataUrl"),
    }


def _is_scalable(autoscaling: Any, config: DeployerConfig, variant_name: str) -> bool:
    resource_id = f"endpoint/{config.endpoint_name}/variant/{variant_name}"
    targets = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource_id])
    return bool(targets["ScalableTargets"])


def _ensure_model(sagemaker: Any, model: ApprovedModel, config: DeployerConfig) -> str:
    name = model_name(model, config)
    # Deterministic names: a retry reuses what an earlier attempt created.
    if describe_or_none(sagemaker.describe_model, ModelName=name) is None:
        sagemaker.create_model(**build_create_model_request(model, config, name))
    return name


def _ensure_endpoint_config(
    sagemaker: Any,
    model: ApprovedModel,
    model_name_: str,
    variant: str,
    fleet_size: int,
    config: DeployerConfig,
) -> str:
    name = endpoint_config_name(model, model_name_, variant, fleet_size, config)
    if describe_or_none(sagemaker.describe_endpoint_config, EndpointConfigName=name) is None:
        sagemaker.create_endpoint_config(
            **build_create_endpoint_config_request(config, model_name_, name, variant, fleet_size)
        )
    return name


def _recorded(ssm: Any, config: DeployerConfig) -> str:
    return ssm.get_parameter(Name=config.deployed_model_parameter)["Parameter"]["Value"]


def _record(ssm: Any, config: DeployerConfig, model_data_url: str) -> None:
    """The serving stack reads this parameter, so a later `cdk deploy` keeps the deployed model."""
    ssm.put_parameter(
        Name=config.deployed_model_parameter, Value=model_data_url, Type="String", Overwrite=True
    )
