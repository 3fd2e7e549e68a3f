"""The customer-managed KMS key that encrypts data at rest: buckets, topic, queues, log groups, SageMaker volumes."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import AppConfig


class EncryptionKey(Construct):
    """One rotating key, RETAINed like the buckets it protects (deleting it would make their data unreadable)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{config.name_prefix}",
            description=f"{config.name_prefix}: datasets, models, notifications, logs and SageMaker volumes",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # In a key policy the resource "*" means this key. Besides CDK's default statement (the account's IAM
        # policies govern use of the key), two services get exactly the calls they make: CloudWatch Logs
        # encrypts this account's log groups...
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsForThisAccountsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:DescribeKey",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                        )
                    }
                },
            )
        )
        # ...and CloudWatch alarms publish to the encrypted notification topic.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )


def encrypted_log_group(
    scope: Construct, construct_id: str, *, config: AppConfig, key: kms.IKey
) -> logs.LogGroup:
    """A log group encrypted with the app's key, kept `log_retention_days` (logs are not customer data)."""
    log_group = logs.LogGroup(scope, construct_id, encryption_key=key, removal_policy=RemovalPolicy.DESTROY)
    log_group.node.default_child.retention_in_days = config.log_retention_days
    return log_group
