"""Serving stack: the endpoint (once a model exists), its autoscaling, the API front door and monitoring."""

from __future__ import annotations

from aws_cdk import Annotations, CfnCondition, CfnOutput, CfnParameter, Fn, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.api import ClassifyApi
from stacks.autoscaling import EndpointAutoscaling
from stacks.config import AppConfig
from stacks.data_stack import NO_MODEL, DataStack
from stacks.endpoint import ServingEndpoint
from stacks.images import DlcImages
from stacks.monitoring import ApiAlarms, EndpointAlarms, ServingDashboard, rollback_alarm_names

MODEL_PARAMETER_ID = "DeployedModelDataUrl"
MODEL_CONDITION_ID = "ModelExists"


class ServingStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: AppConfig, data: DataStack, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        model_data_url, condition = self._model_source(config, data)
        self.endpoint = ServingEndpoint(
            self,
            "Endpoint",
            config=config,
            model_data_url=model_data_url,
            key=data.key,
            sagemaker_role=data.sagemaker_role,
            images=DlcImages(self, "DlcImages", config=config),
            condition=condition,
        )
        EndpointAutoscaling(self, "Autoscaling", config=config, endpoint=self.endpoint, condition=condition)
        self.api = ClassifyApi(self, "Api", config=config, key=data.key)
        EndpointAlarms(self, "EndpointAlarms", config=config, topic=data.topic, condition=condition)
        ApiAlarms(self, "ApiAlarms", config=config, api=self.api.api, topic=data.topic)
        ServingDashboard(
            self,
            "Dashboard",
            config=config,
            api=self.api.api,
            alarm_names=[
                *rollback_alarm_names(config),
                config.alarm_name("api-5xx"),
                config.alarm_name("api-4xx"),
                config.alarm_name("training-failures"),
            ],
        )
        CfnOutput(self, "ClassifyUrl", value=self.api.api.url_for_path("/classify"))
        output = CfnOutput(self, "EndpointName", value=config.endpoint_name)
        if condition is not None:
            output.condition = condition

    def _model_source(self, config: AppConfig, data: DataStack) -> tuple[str, CfnCondition | None]:
        """Explicit `model_data_url`, or the deployed-model parameter with a "model exists" condition."""
        if config.model_data_url:
            bucket, _, key = config.model_data_url.removeprefix("s3://").partition("/")
            iam.Policy(
                self,
                "SageMakerReadsConfiguredModel",
                roles=[data.sagemaker_role],
                statements=[
                    iam.PolicyStatement(
                        actions=["s3:GetObject"], resources=[f"arn:{self.partition}:s3:::{bucket}/{key}"]
                    )
                ],
            )
            return config.model_data_url, None
        parameter = CfnParameter(
            self,
            MODEL_PARAMETER_ID,
            type="AWS::SSM::Parameter::Value<String>",
            default=config.deployed_model_parameter_name,
            description="SSM parameter holding the deployed model archive's S3 URL ('none' before the first model).",
        )
        condition = CfnCondition(
            self,
            MODEL_CONDITION_ID,
            expression=Fn.condition_not(Fn.condition_equals(parameter.value_as_string, NO_MODEL)),
        )
        Annotations.of(self).add_info(
            "No model_data_url is configured: the endpoint, its autoscaling and its alarms are created only once "
            f"the SSM parameter {config.deployed_model_parameter_name} holds a model (it says '{NO_MODEL}' until "
            "the first model is approved; the deployer then updates this stack and the endpoint comes up). "
            "The API is deployed now and answers 503 until then. To serve an existing model right away, "
            "pass -c model_data_url=s3://<bucket>/<key>.tar.gz."
        )
        return parameter.value_as_string, condition
