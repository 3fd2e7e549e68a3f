"""One way to build this app's Lambda functions, so all three get the same hardening.

Each function: its own directory packaged alone as the code asset (it imports nothing else from the repo), the
`mlops_common` layer (lambda_layer/: helpers the three functions share), the Powertools public layer, its own role with no managed policies, its own KMS-encrypted log group with retention,
KMS-encrypted environment, and a dead-letter queue for events that still fail after the async retries.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.compliance import acknowledge, skip_checkov
from stacks.config import AppConfig
from stacks.encryption import encrypted_log_group

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME = lambda_.Runtime.PYTHON_3_11
#: Powertools publishes its layer from this account in every commercial region.
POWERTOOLS_ACCOUNT = "017000801446"


def powertools_layer(scope: Construct, config: AppConfig) -> lambda_.ILayerVersion:
    """The Powertools for AWS Lambda (Python) v3 public layer for this runtime, in the deploy region (one per stack)."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child("PowertoolsLayer")
    if existing is not None:
        return existing
    arn = (
        f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{POWERTOOLS_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-python311-x86_64:{config.powertools_layer_version}"
    )
    return lambda_.LayerVersion.from_layer_version_arn(stack, "PowertoolsLayer", arn)


def mlops_common_layer(scope: Construct) -> lambda_.ILayerVersion:
    """The `mlops_common` package (lambda_layer/python/), importable from /opt/python (one per stack)."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child("MlopsCommonLayer")
    if existing is not None:
        return existing
    return lambda_.LayerVersion(
        stack,
        "MlopsCommonLayer",
        code=lambda_.Code.from_asset(
            str(REPO_ROOT / "lambda_layer"), exclude=["README.md", "**/__pycache__", "*.pyc"]
        ),
        compatible_runtimes=[RUNTIME],
        description="mlops_common: settings, notifications, S3 URIs, instance storage facts shared by the MLOps Lambdas",
    )


class FailedEventsQueue(Construct):
    """Dead-letter queue for asynchronous Lambda events that failed every retry (nothing is silently dropped)."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(self.queue, "SQS3", "This queue is itself the dead-letter queue of the Lambda functions.")


class ServiceFunction(Construct):
    """A Python Lambda function whose code is the directory `code_dir` (handler `handler.lambda_handler`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        code_dir: str,
        description: str,
        environment: dict[str, str],
        key: kms.IKey,
        dead_letter_queue: sqs.IQueue,
        timeout_seconds: int = 60,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        self.log_group = encrypted_log_group(self, "Logs", config=config, key=key)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler="handler.lambda_handler",
            code=lambda_.Code.from_asset(
                str(REPO_ROOT / code_dir), exclude=["__pycache__", "*.pyc", "tests"]
            ),
            role=self.role,
            log_group=self.log_group,
            timeout=Duration.seconds(timeout_seconds),
            memory_size=256,
            environment={
                "POWERTOOLS_SERVICE_NAME": f"{config.name_prefix}-{construct_id.lower()}",
                **environment,
            },
            environment_encryption=key,
            layers=[mlops_common_layer(self), powertools_layer(self, config)],
            dead_letter_queue=dead_letter_queue,
            retry_attempts=2,
        )
        self.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        skip_checkov(
            self.function,
            "CKV_AWS_117",
            "The function calls only AWS APIs (S3, SageMaker, SNS, SSM, CloudFormation); a VPC would add NAT or "
            "endpoint costs without reducing what it can reach.",
        )
        skip_checkov(
            self.function,
            "CKV_AWS_115",
            "Reserved concurrency fails to deploy in accounts at the default 10-execution limit; the function is "
            "event-driven at training/rollout rate and its DLQ keeps failed events.",
        )
        acknowledge(
            self.function,
            "L1",
            "Pinned to python3.11: the interpreter the handler is tested with and the Powertools layer it loads.",
        )

    def add_to_policy(self, *statements: iam.PolicyStatement) -> None:
        for statement in statements:
            self.role.add_to_principal_policy(statement)
