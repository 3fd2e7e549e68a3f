"""Data stack: what outlives every deployment (key, buckets, topic) and the SageMaker role that uses them."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.config import AppConfig
from stacks.encryption import EncryptionKey
from stacks.images import DlcImages
from stacks.notifications import Notifications
from stacks.roles import SageMakerExecutionRole
from stacks.storage import Buckets

#: Value of the deployed-model parameter before the first model is approved (contract with the deployer).
NO_MODEL = "none"


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.key = EncryptionKey(self, "Encryption", config=config).key
        buckets = Buckets(self, "Buckets", config=config, key=self.key)
        self.datasets_bucket = buckets.datasets
        self.models_bucket = buckets.models
        self.topic = Notifications(self, "Notifications", config=config, key=self.key).topic
        self.images = DlcImages(self, "DlcImages", config=config)
        self.sagemaker_role = SageMakerExecutionRole(
            self,
            "SageMakerExecution",
            config=config,
            key=self.key,
            datasets=self.datasets_bucket,
            models=self.models_bucket,
            images=self.images,
        ).role
        # The deployer overwrites the value; CloudFormation only rewrites it if this definition changes, so the
        # definition is deliberately constant (no config-dependent description or tags).
        self.deployed_model_parameter = ssm.StringParameter(
            self,
            "DeployedModel",
            parameter_name=config.deployed_model_parameter_name,
            string_value=NO_MODEL,
            description="S3 URL of the model.tar.gz on the live endpoint; 'none' until a model is approved.",
        )
        CfnOutput(self, "DatasetsBucketName", value=self.datasets_bucket.bucket_name)
        CfnOutput(self, "ModelsBucketName", value=self.models_bucket.bucket_name)
        CfnOutput(self, "NotificationTopicArn", value=self.topic.topic_arn)
        CfnOutput(self, "DeployedModelParameterName", value=self.deployed_model_parameter.parameter_name)
