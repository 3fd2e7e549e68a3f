"""Target-tracking autoscaling of the endpoint variant on SageMakerVariantInvocationsPerInstance.

The target (invocations per instance per minute) is the sustained request rate one instance handles within the
latency objective, measured by a load test, times 60, times a safety factor (0.5 by default in the README), so a
scale-out starts well before instances saturate. Scale out fast (short cooldown), scale in slowly (long one).

CloudFormation resources are used directly: without a RoleARN, Application Auto Scaling uses its SageMaker
service-linked role (the L2 construct would create an extra role without the permissions it needs).
"""

from __future__ import annotations

from aws_cdk import CfnCondition
from aws_cdk import aws_applicationautoscaling as appscaling
from constructs import Construct

from stacks.config import AppConfig
from stacks.endpoint import VARIANT_NAME, ServingEndpoint

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
INVOCATIONS_PER_INSTANCE = "SageMakerVariantInvocationsPerInstance"


class EndpointAutoscaling(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        endpoint: ServingEndpoint,
        condition: CfnCondition | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.target = appscaling.CfnScalableTarget(
            self,
            "Target",
            service_namespace="sagemaker",
            resource_id=f"endpoint/{endpoint.endpoint.attr_endpoint_name}/variant/{VARIANT_NAME}",
            scalable_dimension=SCALABLE_DIMENSION,
            min_capacity=config.min_instance_count,
            max_capacity=config.max_instance_count,
        )
        self.policy = appscaling.CfnScalingPolicy(
            self,
            "InvocationsPerInstance",
            policy_name=f"{config.name_prefix}-invocations-per-instance",
            policy_type="TargetTrackingScaling",
            scaling_target_id=self.target.ref,
            target_tracking_scaling_policy_configuration=appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=config.target_invocations_per_instance,
                predefined_metric_specification=appscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type=INVOCATIONS_PER_INSTANCE
                ),
                scale_out_cooldown=config.scale_out_cooldown_seconds,
                scale_in_cooldown=config.scale_in_cooldown_seconds,
            ),
        )
        if condition is not None:
            for resource in (self.target, self.policy):
                resource.cfn_options.condition = condition
