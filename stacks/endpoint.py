"""The SageMaker Model, EndpointConfig and real-time Endpoint on a GPU instance.

The model archive comes from `model_data_url` (config) or, by default, from the deployed-model SSM parameter that
the deployer keeps current, resolved by CloudFormation at deploy time: a later `cdk deploy` therefore redeploys
the newest model, never an older one. While the parameter still says `none`, the caller puts every resource here
under a "model exists" condition, so nothing is half-deployed.
"""

from __future__ import annotations

from aws_cdk import CfnCondition, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.config import AppConfig
from stacks.images import DlcImages

VARIANT_NAME = "AllTraffic"
#: SageMaker's payload limit for real-time InvokeEndpoint; the model server accepts exactly that much.
MAX_PAYLOAD_MB = 6


def model_environment(config: AppConfig) -> dict[str, str]:
    """Container environment of every model this app deploys (CloudFormation's and the deployer's alike).

    One worker per instance by default: a BERT-size model saturates one GPU with one worker, and extra workers
    only add GPU memory copies. The timeout stays under InvokeEndpoint's own 60 s limit.
    """
    return {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(config.model_server_workers),
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": str(config.model_server_timeout_seconds),
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(MAX_PAYLOAD_MB),
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "HF_HUB_OFFLINE": "1",
    }


class ServingEndpoint(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        model_data_url: str,
        key: kms.IKey,
        sagemaker_role: iam.IRole,
        images: DlcImages,
        condition: CfnCondition | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=sagemaker_role.role_arn,
            # The handler needs no network: SageMaker fetches the archive, and the model loads from local files.
            enable_network_isolation=True,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=images.inference_image_uri,
                model_data_url=model_data_url,
                environment=model_environment(config),
            ),
        )
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT_NAME,
                    model_name=self.model.attr_model_name,
                    instance_type=config.serving_instance_type,
                    initial_instance_count=config.initial_instance_count,
                    initial_variant_weight=1.0,
                )
            ],
            kms_key_id=None if config.serving_has_instance_storage else key.key_arn,
        )
        if config.serving_has_instance_storage:
            acknowledge(
                self.endpoint_config,
                "SM2",
                f"{config.serving_instance_type} serves from local NVMe storage, which the instance encrypts in "
                "hardware; SageMaker rejects a KMS key for such instance types.",
            )
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=config.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
        )
        acknowledge(
            self.model,
            "SM1",
            "The model runs with network isolation (no network at all), which is stricter than a VPC; SageMaker "
            "fetches the archive from S3 itself and the container only answers InvokeEndpoint calls.",
        )
        if condition is not None:
            for resource in (self.model, self.endpoint_config, self.endpoint):
                resource.cfn_options.condition = condition

    @property
    def generated_name_patterns(self) -> list[str]:
        """SageMaker resource-name patterns of the model and endpoint config, which CloudFormation names
        `<logical id>-<random>` (SageMaker ARNs spell names in lower case)."""
        return [
            f"{kind}/{Stack.of(resource).resolve(Stack.of(resource).get_logical_id(resource)).lower()}*"
            for kind, resource in (("model", self.model), ("endpoint-config", self.endpoint_config))
        ]
