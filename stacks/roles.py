"""The SageMaker execution role: what training jobs and the endpoint may touch, and nothing else.

Training jobs read `datasets/` from the datasets bucket and write `training-jobs/` (output) and `checkpoints/`
(spot training) to the models bucket; endpoints read model archives from `training-jobs/`. Both pull only the two
Hugging Face DLC repositories, log only to SageMaker's own log groups, and use only this app's KMS key.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.compliance import acknowledge_wildcard_resources
from stacks.config import AppConfig
from stacks.images import DlcImages

DATASETS_PREFIX = "datasets/"
TRAINING_OUTPUT_PREFIX = "training-jobs/"
CHECKPOINTS_PREFIX = "checkpoints/"


def log_group_arn(name: str) -> str:
    return f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{name}"


def read_prefix_statements(bucket: s3.IBucket, prefix: str, sid: str) -> list[iam.PolicyStatement]:
    """GetObject on the objects under `prefix`, and ListBucket limited to that prefix."""
    return [
        iam.PolicyStatement(
            sid=f"Read{sid}", actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{prefix}*")]
        ),
        iam.PolicyStatement(
            sid=f"List{sid}",
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        ),
    ]


def kms_use_statement(key: kms.IKey, *actions: str) -> iam.PolicyStatement:
    """Use of this app's key through the services that encrypt with it (S3, SNS, SQS, SageMaker)."""
    return iam.PolicyStatement(actions=list(actions), resources=[key.key_arn])


class SageMakerExecutionRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        key: kms.IKey,
        datasets: s3.IBucket,
        models: s3.IBucket,
        images: DlcImages,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{config.name_prefix}: SageMaker training jobs and the real-time endpoint",
        )
        dataset_objects = datasets.arn_for_objects(f"{DATASETS_PREFIX}*")
        output_objects = models.arn_for_objects(f"{TRAINING_OUTPUT_PREFIX}*")
        checkpoint_objects = models.arn_for_objects(f"{CHECKPOINTS_PREFIX}*")
        training_logs = log_group_arn("/aws/sagemaker/TrainingJobs:*")
        endpoint_logs = log_group_arn(f"/aws/sagemaker/Endpoints/{config.endpoint_name}:*")
        statements = [
            *read_prefix_statements(datasets, DATASETS_PREFIX, "Datasets"),
            iam.PolicyStatement(
                sid="ReadWriteTrainingOutputAndCheckpoints",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[output_objects, checkpoint_objects],
            ),
            iam.PolicyStatement(
                sid="ListTrainingOutputAndCheckpoints",
                actions=["s3:ListBucket"],
                resources=[models.bucket_arn],
                conditions={
                    "StringLike": {"s3:prefix": [f"{TRAINING_OUTPUT_PREFIX}*", f"{CHECKPOINTS_PREFIX}*"]}
                },
            ),
            kms_use_statement(key, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"),
            iam.PolicyStatement(
                sid="KmsGrantsForTrainingVolumes",
                actions=["kms:CreateGrant"],
                resources=[key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            iam.PolicyStatement(
                sid="PullHuggingFaceDlcImages",
                actions=[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                ],
                resources=[images.repository_arn("training"), images.repository_arn("inference")],
            ),
            # ecr:GetAuthorizationToken has no resource type: IAM only accepts "*" for it.
            iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            iam.PolicyStatement(
                sid="WriteSageMakerLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                resources=[training_logs, endpoint_logs],
            ),
            # cloudwatch:PutMetricData has no resource type: "*", narrowed to SageMaker's namespaces.
            iam.PolicyStatement(
                sid="PublishSageMakerMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
            ),
        ]
        policy = iam.Policy(self, "Policy", statements=statements)
        self.role.attach_inline_policy(policy)
        acknowledge_wildcard_resources(
            policy,
            {
                dataset_objects: "Training jobs read any dataset version uploaded under datasets/.",
                output_objects: "Training jobs write job-named output folders and endpoints read model archives there.",
                checkpoint_objects: "Spot training writes and resumes job-named checkpoints under checkpoints/.",
                "*": "ecr:GetAuthorizationToken and cloudwatch:PutMetricData admit no resource (the latter is limited "
                "to SageMaker's namespaces by condition).",
                training_logs: "SageMaker names one log stream per job and host inside its fixed TrainingJobs group.",
                endpoint_logs: "SageMaker names one log stream per variant and instance inside this endpoint's group.",
            },
        )
