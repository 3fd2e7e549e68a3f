"""The training launcher: the source tarball asset, the launcher Lambda, and the upload that triggers it.

A dataset is uploaded as `datasets/<dataset>/<version>/{train,validation,test}.*` followed by its `manifest.json`;
the manifest's Object Created event (S3 -> EventBridge) starts exactly one training job. Platform engineers can
also invoke the function directly with a JSON job request (the `LauncherInvokePolicy` grants exactly that).
"""

from __future__ import annotations

import json

from aws_cdk import Aws
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.compliance import acknowledge_wildcard_resources
from stacks.config import AppConfig
from stacks.images import DlcImages
from stacks.lambdas import REPO_ROOT, ServiceFunction
from stacks.roles import DATASETS_PREFIX, kms_use_statement, read_prefix_statements
from training.packaging import build_source_tarball

#: Where synth writes the training source tarball (gitignored); CDK stages it as a file asset.
SOURCE_TARBALL = REPO_ROOT / "build" / "training" / "sourcedir.tar.gz"
MANIFEST_KEY_PATTERN = f"{DATASETS_PREFIX}*/*/manifest.json"
REJECTION_KEY_PATTERN = f"{DATASETS_PREFIX}*/_rejected.json"


def sagemaker_arn(resource: str) -> str:
    return f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:{resource}"


def pass_role_statement(role_arn: str, service: str) -> iam.PolicyStatement:
    """iam:PassRole on exactly one role, and only to one service."""
    return iam.PolicyStatement(
        sid="PassRoleTo" + service.split(".")[0].capitalize(),
        actions=["iam:PassRole"],
        resources=[role_arn],
        conditions={"StringEquals": {"iam:PassedToService": service}},
    )


def publish_statement(topic: sns.ITopic) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid="Notify", actions=["sns:Publish"], resources=[topic.topic_arn])


class TrainingLauncher(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        key: kms.IKey,
        datasets: s3.IBucket,
        models: s3.IBucket,
        topic: sns.ITopic,
        sagemaker_role: iam.IRole,
        images: DlcImages,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        # The training toolkit untars sagemaker_submit_directory: a .tar.gz file asset, not a (zip) directory asset.
        self.source = s3_assets.Asset(self, "TrainingSource", path=str(build_source_tarball(SOURCE_TARBALL)))
        iam.Policy(
            self,
            "SageMakerReadsTrainingSource",
            roles=[sagemaker_role],
            statements=[
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[self.source.bucket.arn_for_objects(self.source.s3_object_key)],
                )
            ],
        )
        self.launcher = ServiceFunction(
            self,
            "Launcher",
            config=config,
            code_dir="training/launcher",
            description=f"{config.name_prefix}: validates a dataset and starts one SageMaker training job",
            key=key,
            dead_letter_queue=dead_letter_queue,
            environment={
                "DATASETS_BUCKET": datasets.bucket_name,
                "MODELS_BUCKET": models.bucket_name,
                "SAGEMAKER_ROLE_ARN": sagemaker_role.role_arn,
                "TRAINING_IMAGE_URI": images.training_image_uri,
                "TRAINING_SOURCE_S3_URI": self.source.s3_object_url,
                "KMS_KEY_ARN": key.key_arn,
                "NOTIFICATION_TOPIC_ARN": topic.topic_arn,
                "NAME_PREFIX": config.name_prefix,
                "TRAINING_INSTANCE_TYPE": config.training_instance_type,
                "TRAINING_INSTANCE_COUNT": str(config.training_instance_count),
                "BASE_MODEL_ID": config.base_model_id,
                "MAX_RUNTIME_SECONDS": str(config.max_training_runtime_seconds),
                "USE_SPOT_INSTANCES": str(config.use_spot_instances).lower(),
                "DEFAULT_HYPERPARAMETERS": json.dumps(config.training_hyperparameters, sort_keys=True),
            },
        )
        training_jobs = sagemaker_arn(f"training-job/{config.name_prefix}-*")
        dataset_objects = datasets.arn_for_objects(f"{DATASETS_PREFIX}*")
        rejection_records = datasets.arn_for_objects(REJECTION_KEY_PATTERN)
        self.launcher.add_to_policy(
            *read_prefix_statements(datasets, DATASETS_PREFIX, "DatasetFiles"),
            iam.PolicyStatement(
                sid="WriteRejectionRecordsOnly",
                actions=["s3:PutObject"],
                resources=[rejection_records],
            ),
            iam.PolicyStatement(
                sid="StartAndDescribeThisAppsTrainingJobs",
                actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:AddTags"],
                resources=[training_jobs],
            ),
            pass_role_statement(sagemaker_role.role_arn, "sagemaker.amazonaws.com"),
            publish_statement(topic),
            kms_use_statement(key, "kms:Decrypt", "kms:GenerateDataKey"),
        )
        acknowledge_wildcard_resources(
            self.launcher.role,
            {
                dataset_objects: "Reads the header of dataset files under datasets/ (ranged GET) before starting a job.",
                rejection_records: "Writes only objects named _rejected.json next to a rejected dataset, never data.",
                training_jobs: "Job names are derived per dataset version; only jobs with this app's prefix.",
            },
        )

        self.upload_rule = events.Rule(
            self,
            "DatasetManifestUploaded",
            description="A dataset manifest.json landed in the datasets bucket: start one training job.",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [datasets.bucket_name]},
                    "object": {"key": events.Match.wildcard(MANIFEST_KEY_PATTERN)},
                },
            ),
            targets=[targets.LambdaFunction(self.launcher.function, retry_attempts=4)],
        )
        self.invoke_policy = iam.ManagedPolicy(
            self,
            "LauncherInvokePolicy",
            description=f"{config.name_prefix}: start a training job by invoking the launcher directly (ops CLI).",
            statements=[
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"], resources=[self.launcher.function.function_arn]
                )
            ],
        )
