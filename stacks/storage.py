"""S3 buckets: datasets (uploads that trigger training) and models (training output), plus their access logs.

Customer data is never deleted by the stack: buckets are RETAINed, versioned, and only *noncurrent* object
versions expire (an overwritten or deleted object stays recoverable for `NONCURRENT_VERSION_DAYS`).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.compliance import acknowledge, skip_checkov
from stacks.config import AppConfig

NONCURRENT_VERSION_DAYS = 90
ACCESS_LOG_DAYS = 365


def bucket_name(config: AppConfig, kind: str) -> str:
    """Deterministic, globally unique bucket name: other stacks refer to it without cross-stack exports.

    Buckets are RETAINed, so after `cdk destroy` the name stays taken: redeploy with another name_prefix, or
    empty and delete the old buckets first (README, "Deploy and destroy").
    """
    return f"{config.name_prefix}-{kind}-{Aws.ACCOUNT_ID}-{Aws.REGION}"


def _lifecycle_rules(*, expire_current_after: Duration | None = None) -> list[s3.LifecycleRule]:
    return [
        s3.LifecycleRule(
            id="ExpireOldNoncurrentVersions",
            noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
            abort_incomplete_multipart_upload_after=Duration.days(7),
            expiration=expire_current_after,
        )
    ]


class Buckets(Construct):
    """The access-log bucket and the two KMS-encrypted data buckets that log into it."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        # S3 server access logging cannot deliver to a KMS-encrypted bucket: this one uses S3-managed keys.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            bucket_name=bucket_name(config, "access-logs"),
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=_lifecycle_rules(expire_current_after=Duration.days(ACCESS_LOG_DAYS)),
            removal_policy=RemovalPolicy.RETAIN,
        )
        reason = (
            "This is the server access log target of the data buckets; logging it into itself would loop."
        )
        acknowledge(self.access_logs, "S1", reason)
        skip_checkov(self.access_logs, "CKV_AWS_18", reason)
        self.datasets = self._data_bucket(
            "Datasets", bucket_name(config, "datasets"), key, log_prefix="datasets/"
        )
        self.models = self._data_bucket("Models", bucket_name(config, "models"), key, log_prefix="models/")
        # Dataset uploads reach the launcher through EventBridge. Set on the bucket itself: the L2 flag would add
        # a custom-resource Lambda just to call PutBucketNotificationConfiguration.
        self.datasets.node.default_child.notification_configuration = (
            s3.CfnBucket.NotificationConfigurationProperty(
                event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(
                    event_bridge_enabled=True
                )
            )
        )

    def _data_bucket(self, construct_id: str, name: str, key: kms.IKey, *, log_prefix: str) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            bucket_name=name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=log_prefix,
            lifecycle_rules=_lifecycle_rules(),
            removal_policy=RemovalPolicy.RETAIN,
        )
