"""Training stack: the launcher and the MLOps loop after training (registry, gate, deployer)."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import AppConfig
from stacks.data_stack import DataStack
from stacks.images import DlcImages
from stacks.lambdas import FailedEventsQueue
from stacks.model_registry import ModelRegistry
from stacks.monitoring import TrainingFailureAlarm
from stacks.storage import bucket_name
from stacks.training_launcher import TrainingLauncher


class TrainingStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        data: DataStack,
        serving_generated_names: list[str],
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.add_stack_dependency(data)
        # By name, not by reference: policies then name the buckets plainly (no cross-stack export tokens).
        datasets = s3.Bucket.from_bucket_name(self, "Datasets", bucket_name(config, "datasets"))
        models = s3.Bucket.from_bucket_name(self, "Models", bucket_name(config, "models"))
        images = DlcImages(self, "DlcImages", config=config)
        dead_letters = FailedEventsQueue(self, "FailedEvents", key=data.key).queue
        self.launcher = TrainingLauncher(
            self,
            "TrainingLauncher",
            config=config,
            key=data.key,
            datasets=datasets,
            models=models,
            topic=data.topic,
            sagemaker_role=data.sagemaker_role,
            images=images,
            dead_letter_queue=dead_letters,
        )
        self.registry = ModelRegistry(
            self,
            "ModelRegistry",
            config=config,
            key=data.key,
            models=models,
            topic=data.topic,
            sagemaker_role=data.sagemaker_role,
            images=images,
            deployed_model_parameter=data.deployed_model_parameter,
            dead_letter_queue=dead_letters,
            serving_generated_names=serving_generated_names,
        )
        self.training_failures = TrainingFailureAlarm(
            self, "TrainingFailures", config=config, topic=data.topic
        )
        # Read by the ops CLI (deployment/cli.py) to find the app's parts.
        CfnOutput(self, "LauncherFunctionName", value=self.launcher.launcher.function.function_name)
        CfnOutput(self, "LauncherInvokePolicyArn", value=self.launcher.invoke_policy.managed_policy_arn)
        CfnOutput(self, "DeployerFunctionName", value=self.registry.deployer.function.function_name)
        CfnOutput(self, "ModelPackageGroupName", value=config.model_package_group_name)
