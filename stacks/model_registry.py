"""MLOps wiring after training: Model Package Group, registrar/gate Lambda, deployer Lambda, and their triggers.

Training job state change (this app's jobs) -> registrar: registers the model, approves it if it passes the
gate. Model package state change to Approved (this group, automatic or manual) -> deployer: first model through
a CloudFormation update of the serving stack, later ones by blue/green UpdateEndpoint with auto-rollback alarms.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, Fn, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.compliance import acknowledge_wildcard_resources
from stacks.config import AppConfig
from stacks.endpoint import model_environment
from stacks.images import DlcImages
from stacks.lambdas import ServiceFunction
from stacks.monitoring import rollback_alarm_names
from stacks.roles import TRAINING_OUTPUT_PREFIX, kms_use_statement
from stacks.training_launcher import pass_role_statement, publish_statement, sagemaker_arn

TRAINING_JOB_STATE_CHANGE = "SageMaker Training Job State Change"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
ENDPOINT_STATE_CHANGES = ["SageMaker Endpoint State Change", "SageMaker Endpoint Deployment State Change"]
TERMINAL_TRAINING_STATES = ["Completed", "Failed", "Stopped"]
#: Where the registrar writes its evaluation report inside a job's output folder.
METRICS_REPORT = "evaluation/metrics.json"


class ModelRegistry(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        key: kms.IKey,
        models: s3.IBucket,
        topic: sns.ITopic,
        sagemaker_role: iam.IRole,
        images: DlcImages,
        deployed_model_parameter: ssm.IStringParameter,
        dead_letter_queue: sqs.IQueue,
        serving_generated_names: list[str],
    ) -> None:
        """`serving_generated_names`: name patterns of the serving stack's CloudFormation-named SageMaker
        resources (`model/<logical id>*`, `endpoint-config/<logical id>*`), which the deployer reads."""
        super().__init__(scope, construct_id)
        group_name = config.model_package_group_name
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=group_name,
            model_package_group_description=f"{config.name_prefix}: multi-label text classifiers, gated on macro-F1",
        )
        # Registered models are kept like the buckets (CloudFormation cannot delete a non-empty group anyway).
        self.group.apply_removal_policy(RemovalPolicy.RETAIN)
        group_arn = sagemaker_arn(f"model-package-group/{group_name}")
        packages_arn = sagemaker_arn(f"model-package/{group_name}/*")
        training_jobs = sagemaker_arn(f"training-job/{config.name_prefix}-*")
        output_objects = models.arn_for_objects(f"{TRAINING_OUTPUT_PREFIX}*")
        metrics_reports = models.arn_for_objects(f"{TRAINING_OUTPUT_PREFIX}*/{METRICS_REPORT}")
        common = {"config": config, "key": key, "dead_letter_queue": dead_letter_queue}

        self.registrar = ServiceFunction(
            self,
            "Registrar",
            code_dir="deployment/registrar",
            description=f"{config.name_prefix}: registers trained models and approves those that pass the gate",
            environment={
                "MODEL_PACKAGE_GROUP_NAME": group_name,
                "INFERENCE_IMAGE_URI": images.inference_image_uri,
                "NOTIFICATION_TOPIC_ARN": topic.topic_arn,
                "MIN_MACRO_F1": str(config.min_macro_f1),
                "MAX_F1_REGRESSION": str(config.max_f1_regression),
                "DEPLOYED_MODEL_PARAMETER": config.deployed_model_parameter_name,
                "NAME_PREFIX": config.name_prefix,
                "MODELS_BUCKET": models.bucket_name,
            },
            **common,
        )
        self.registrar.add_to_policy(
            iam.PolicyStatement(
                sid="ReadThisAppsTrainingJobs",
                actions=["sagemaker:DescribeTrainingJob"],
                resources=[training_jobs],
            ),
            iam.PolicyStatement(
                sid="RegisterModelPackagesInThisGroup",
                actions=["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage"],
                resources=[group_arn, packages_arn],
            ),
            # sagemaker:ListModelPackages has no resource type: IAM only accepts "*" (it lists metadata only).
            iam.PolicyStatement(
                sid="ListModelPackages", actions=["sagemaker:ListModelPackages"], resources=["*"]
            ),
            iam.PolicyStatement(
                sid="ReadTrainingOutput",
                actions=["s3:GetObject"],
                resources=[output_objects],
            ),
            iam.PolicyStatement(
                sid="WriteMetricsReports",
                actions=["s3:PutObject"],
                resources=[metrics_reports],
            ),
            iam.PolicyStatement(
                sid="ReadDeployedModel",
                actions=["ssm:GetParameter"],
                resources=[deployed_model_parameter.parameter_arn],
            ),
            publish_statement(topic),
            kms_use_statement(key, "kms:Decrypt", "kms:GenerateDataKey"),
        )
        acknowledge_wildcard_resources(
            self.registrar.role,
            {
                training_jobs: "Describes only training jobs with this app's name prefix.",
                packages_arn: "Model package versions of this app's group only (SageMaker numbers them).",
                output_objects: "Reads evaluation results of this app's training jobs under training-jobs/.",
                metrics_reports: "Writes only evaluation/metrics.json reports inside job-named output folders.",
                "*": "sagemaker:ListModelPackages admits no resource; it lists metadata to find the deployed model.",
            },
        )
        events.Rule(
            self,
            "TrainingJobFinished",
            description="One of this app's training jobs reached a terminal state: register or report it.",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[TRAINING_JOB_STATE_CHANGE],
                detail={
                    "TrainingJobName": events.Match.prefix(f"{config.name_prefix}-"),
                    "TrainingJobStatus": TERMINAL_TRAINING_STATES,
                },
            ),
            targets=[targets.LambdaFunction(self.registrar.function, retry_attempts=4)],
        )

        alarm_names = rollback_alarm_names(config)
        serving_stack_name = config.stack_name("serving")
        self.deployer = ServiceFunction(
            self,
            "Deployer",
            code_dir="deployment/deployer",
            description=f"{config.name_prefix}: rolls approved models onto the endpoint (blue/green, auto-rollback)",
            timeout_seconds=120,
            environment={
                "ENDPOINT_NAME": config.endpoint_name,
                "SAGEMAKER_ROLE_ARN": sagemaker_role.role_arn,
                "INSTANCE_TYPE": config.serving_instance_type,
                "INITIAL_INSTANCE_COUNT": str(config.initial_instance_count),
                "KMS_KEY_ARN": key.key_arn,
                "ROLLBACK_ALARM_NAMES": ",".join(alarm_names),
                "CANARY_PERCENT": str(config.canary_percent),
                "WAIT_INTERVAL_SECONDS": str(config.canary_wait_seconds),
                "DEPLOYED_MODEL_PARAMETER": config.deployed_model_parameter_name,
                "SERVING_STACK_NAME": serving_stack_name,
                "NOTIFICATION_TOPIC_ARN": topic.topic_arn,
                "MODEL_ENVIRONMENT": json.dumps(model_environment(config), sort_keys=True),
            },
            **common,
        )
        # The synthesizer's ARN carries CloudFormation ${AWS::...} placeholders: Fn::Sub resolves them.
        serving_generated_arns = [sagemaker_arn(name) for name in serving_generated_names]
        models_arn = sagemaker_arn(f"model/{config.name_prefix}-*")
        endpoint_configs_arn = sagemaker_arn(f"endpoint-config/{config.name_prefix}-*")
        serving_stack_arn = (
            f"arn:{Aws.PARTITION}:cloudformation:{Aws.REGION}:{Aws.ACCOUNT_ID}:stack/{serving_stack_name}/*"
        )
        cfn_exec_role_arn = Fn.sub(Stack.of(self).synthesizer.cloud_formation_execution_role_arn)
        self.deployer.add_to_policy(
            iam.PolicyStatement(
                sid="CreateThisAppsModelsAndEndpointConfigs",
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:DescribeModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:AddTags",
                ],
                resources=[models_arn, endpoint_configs_arn],
            ),
            iam.PolicyStatement(
                sid="ReadTheServingStacksModelAndEndpointConfig",
                actions=["sagemaker:DescribeModel", "sagemaker:DescribeEndpointConfig"],
                resources=serving_generated_arns,
            ),
            # application-autoscaling:DescribeScalableTargets has no resource type: IAM only accepts "*".
            iam.PolicyStatement(
                sid="ReadEndpointScaling",
                actions=["application-autoscaling:DescribeScalableTargets"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="UpdateThisAppsEndpoint",
                actions=["sagemaker:UpdateEndpoint", "sagemaker:DescribeEndpoint"],
                resources=[sagemaker_arn(f"endpoint/{config.endpoint_name}")],
            ),
            iam.PolicyStatement(
                sid="ReadApprovedModelPackages",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[packages_arn],
            ),
            pass_role_statement(sagemaker_role.role_arn, "sagemaker.amazonaws.com"),
            iam.PolicyStatement(
                sid="RecordDeployedModel",
                actions=["ssm:GetParameter", "ssm:PutParameter"],
                resources=[deployed_model_parameter.parameter_arn],
            ),
            iam.PolicyStatement(
                sid="FirstDeploymentThroughServingStack",
                actions=["cloudformation:UpdateStack", "cloudformation:DescribeStacks"],
                resources=[serving_stack_arn],
            ),
            # UpdateStack reuses the role the stack was deployed with (the CDK bootstrap's execution role).
            pass_role_statement(cfn_exec_role_arn, "cloudformation.amazonaws.com"),
            publish_statement(topic),
            kms_use_statement(
                key, "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"
            ),
        )
        acknowledge_wildcard_resources(
            self.deployer.role,
            {
                models_arn: "Each rollout creates a new, uniquely named model with this app's prefix.",
                endpoint_configs_arn: "Each rollout creates a new, uniquely named endpoint config with this app's prefix.",
                packages_arn: "Approved versions of this app's model package group only.",
                serving_stack_arn: "The serving stack only; the trailing * is the stack id CloudFormation assigns.",
                **{
                    arn: "The serving stack's model/endpoint config: CloudFormation names them <logical id>-<random>."
                    for arn in serving_generated_arns
                },
                "*": "application-autoscaling:DescribeScalableTargets admits no resource (read-only).",
            },
        )
        events.Rule(
            self,
            "EndpointStateChanged",
            description="This app's endpoint changed state (a rollout finished, failed or rolled back).",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=ENDPOINT_STATE_CHANGES,
                detail={"EndpointName": [config.endpoint_name]},
            ),
            targets=[targets.LambdaFunction(self.deployer.function, retry_attempts=4)],
        )
        events.Rule(
            self,
            "ModelPackageApproved",
            description="A model package of this app's group was approved: roll it out.",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[MODEL_PACKAGE_STATE_CHANGE],
                detail={"ModelPackageGroupName": [group_name], "ModelApprovalStatus": ["Approved"]},
            ),
            targets=[targets.LambdaFunction(self.deployer.function, retry_attempts=4)],
        )
