"""What the deployer asks SageMaker and CloudFormation for: pure functions, no AWS calls.

A new model version goes live as a blue/green UpdateEndpoint: SageMaker builds the new (green) fleet, shifts
a canary share of the traffic to it, waits while the CloudWatch alarms watch, then shifts the rest; any
alarm firing during the waits rolls all traffic back to the old (blue) fleet. The canary must be at most half
of the new fleet, so a one-instance endpoint shifts all at once and relies on the final baking period.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from deployer_config import DeployerConfig
from mlops_common.instance_types import has_local_storage

NAME_MAX = 63
HASH_LENGTH = 8
#: Time SageMaker needs to provision the green fleet and load the model, on top of the configured waits.
PROVISIONING_ALLOWANCE_SECONDS = 1800
#: SageMaker's bounds for MaximumExecutionTimeoutInSeconds.
MIN_EXECUTION_TIMEOUT_SECONDS = 600
MAX_EXECUTION_TIMEOUT_SECONDS = 28800
#: Capabilities a CDK-synthesised stack may need on update.
STACK_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


@dataclass(frozen=True)
class ApprovedModel:
    """A model package version ready to serve."""

    package_arn: str
    version: int
    image: str
    model_data_url: str
    environment: dict[str, str]

    @classmethod
    def from_description(cls, package: dict[str, Any]) -> ApprovedModel:
        container = package["InferenceSpecification"]["Containers"][0]
        return cls(
            package_arn=package["ModelPackageArn"],
            version=int(package.get("ModelPackageVersion") or package["ModelPackageArn"].rsplit("/", 1)[-1]),
            image=container["Image"],
            model_data_url=container["ModelDataUrl"],
            environment=dict(container.get("Environment") or {}),
        )


def _name(endpoint_name: str, version: int, identity: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:HASH_LENGTH]
    suffix = f"-v{version}-{digest}"
    return endpoint_name[: NAME_MAX - len(suffix)].rstrip("-") + suffix


def container_environment(model: ApprovedModel, config: DeployerConfig) -> dict[str, str]:
    """The package's own environment, overridden by the stack's serving settings (MODEL_ENVIRONMENT)."""
    return {**model.environment, **config.model_environment}


def model_name(model: ApprovedModel, config: DeployerConfig) -> str:
    """Deterministic: the same package and container settings reuse the same SageMaker Model."""
    identity = {
        "image": model.image,
        "model_data_url": model.model_data_url,
        "environment": container_environment(model, config),
        "role": config.sagemaker_role_arn,
    }
    return _name(config.endpoint_name, model.version, identity)


def endpoint_config_name(
    model: ApprovedModel, model_name_: str, variant_name: str, instance_count: int, config: DeployerConfig
) -> str:
    """Deterministic too; changes with the fleet settings, so a retry reuses it and a resize does not."""
    identity = {
        "model": model_name_,
        "variant": variant_name,
        "instance_type": config.instance_type,
        "instance_count": instance_count,
        "kms": volume_kms_key(config),
    }
    return _name(config.endpoint_name, model.version, identity)


def volume_kms_key(config: DeployerConfig) -> str | None:
    """SageMaker refuses a KmsKeyId for instance types with local NVMe storage (encrypted in hardware)."""
    return None if has_local_storage(config.instance_type) else config.kms_key_arn


def build_create_model_request(model: ApprovedModel, config: DeployerConfig, name: str) -> dict[str, Any]:
    return {
        "ModelName": name,
        "ExecutionRoleArn": config.sagemaker_role_arn,
        "PrimaryContainer": {
            "Image": model.image,
            "ModelDataUrl": model.model_data_url,
            "Environment": container_environment(model, config),
        },
        # The model artifact carries its code; the container needs no network beyond SageMaker's download.
        "EnableNetworkIsolation": True,
        "Tags": [{"Key": "mlops:model-package", "Value": model.package_arn}],
    }


def build_create_endpoint_config_request(
    config: DeployerConfig, model_name_: str, name: str, variant_name: str, instance_count: int
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {
                "VariantName": variant_name,
                "ModelName": model_name_,
                "InstanceType": config.instance_type,
                "InitialInstanceCount": instance_count,
                "InitialVariantWeight": 1.0,
            }
        ],
    }
    kms_key = volume_kms_key(config)
    if kms_key:
        request["KmsKeyId"] = kms_key
    return request


def green_fleet_size(config: DeployerConfig, live_instance_count: int | None) -> int:
    """At least the configured size, and never smaller than what auto scaling has the endpoint running."""
    return max(config.initial_instance_count, live_instance_count or 0)


def traffic_routing(config: DeployerConfig, fleet_size: int) -> dict[str, Any]:
    """CANARY with `CANARY_PERCENT` of the new fleet (at least one instance, at most half); ALL_AT_ONCE for one."""
    if fleet_size < 2:
        return {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": config.wait_interval_seconds}
    canary_instances = max(1, fleet_size * config.canary_percent // 100)
    return {
        "Type": "CANARY",
        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": canary_instances},
        "WaitIntervalInSeconds": config.wait_interval_seconds,
    }


def execution_timeout(config: DeployerConfig) -> int:
    """Room for provisioning plus every wait, within SageMaker's 600-28800 s bounds."""
    needed = (
        PROVISIONING_ALLOWANCE_SECONDS + 2 * config.wait_interval_seconds + config.termination_wait_seconds
    )
    return min(MAX_EXECUTION_TIMEOUT_SECONDS, max(MIN_EXECUTION_TIMEOUT_SECONDS, needed))


def build_update_endpoint_request(
    config: DeployerConfig, endpoint_config: str, fleet_size: int
) -> dict[str, Any]:
    return {
        "EndpointName": config.endpoint_name,
        "EndpointConfigName": endpoint_config,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": traffic_routing(config, fleet_size),
                "TerminationWaitInSeconds": config.termination_wait_seconds,
                "MaximumExecutionTimeoutInSeconds": execution_timeout(config),
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": n} for n in config.rollback_alarm_names]},
        },
    }


def autoscaling_conflict(
    live_instance_type: str, config: DeployerConfig, variant_is_scalable: bool
) -> str | None:
    """SageMaker refuses UpdateEndpoint that changes the instance type of an auto-scaled variant.

    Changing only the model is allowed with scaling attached, which is what the deployer does. An instance type
    change goes through `cdk deploy` of the serving stack, which re-creates the scaling target with it.
    """
    if variant_is_scalable and live_instance_type != config.instance_type:
        return (
            f"the endpoint's variant is auto-scaled on {live_instance_type} and the deployer is configured for "
            f"{config.instance_type}: SageMaker refuses to change the instance type of an auto-scaled variant. "
            "Deploy the instance type change with `cdk deploy` (serving stack), then approve again."
        )
    return None


def build_stack_update_request(stack: dict[str, Any]) -> dict[str, Any]:
    """Re-apply the serving stack as it is: CloudFormation re-reads the SSM parameter holding the model URL."""
    return {
        "StackName": stack["StackName"],
        "UsePreviousTemplate": True,
        "Parameters": [
            {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True} for p in stack.get("Parameters", [])
        ],
        "Capabilities": STACK_CAPABILITIES,
    }
