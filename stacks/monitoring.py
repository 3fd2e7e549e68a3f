"""Alarms, the dashboard, and where they report (the notification topic).

The three endpoint alarms double as the deployer's auto-rollback alarms during a blue/green rollout, so their
names are deterministic (`rollback_alarm_names`) and handed to the deployer as ROLLBACK_ALARM_NAMES.
"""

from __future__ import annotations

from aws_cdk import CfnCondition, Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import AppConfig
from stacks.endpoint import VARIANT_NAME

ONE_MINUTE = Duration.minutes(1)
FIVE_MINUTES = Duration.minutes(5)
#: Share of API calls rejected as client errors (bad bodies, auth) that is worth a look.
API_4XX_ALARM_RATE = 0.25


def rollback_alarm_names(config: AppConfig) -> list[str]:
    """Names of the endpoint alarms that roll a blue/green deployment back (model errors, 5xx, p99 latency)."""
    return [
        config.alarm_name(what) for what in ("endpoint-model-errors", "endpoint-5xx", "endpoint-p99-latency")
    ]


def _notify(alarm: cloudwatch.Alarm, topic: sns.ITopic) -> cloudwatch.Alarm:
    alarm.add_alarm_action(actions.SnsAction(topic))
    alarm.add_ok_action(actions.SnsAction(topic))
    return alarm


def _endpoint_metric(
    config: AppConfig, name: str, statistic: str, namespace: str = "AWS/SageMaker"
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map={"EndpointName": config.endpoint_name, "VariantName": VARIANT_NAME},
        statistic=statistic,
        period=ONE_MINUTE,
    )


class EndpointAlarms(Construct):
    """Model error rate, container 5xx and p99 model latency, evaluated every minute (fast enough to roll back)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        topic: sns.ITopic,
        condition: CfnCondition | None,
    ) -> None:
        super().__init__(scope, construct_id)
        errors_name, server_errors_name, latency_name = rollback_alarm_names(config)
        error_rate = cloudwatch.MathExpression(
            expression="IF(invocations > 0, 100 * errors / invocations, 0)",
            using_metrics={
                "errors": _endpoint_metric(config, "InvocationModelErrors", "Sum"),
                "invocations": _endpoint_metric(config, "Invocations", "Sum"),
            },
            label="Model error rate (%)",
            period=ONE_MINUTE,
        )
        self.alarms = [
            error_rate.create_alarm(
                self,
                "ModelErrors",
                alarm_name=errors_name,
                alarm_description="More than error_rate_alarm_percent of invocations end in a model error.",
                threshold=config.error_rate_alarm_percent,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            _endpoint_metric(config, "Invocation5XXErrors", "Sum").create_alarm(
                self,
                "ServerErrors",
                alarm_name=server_errors_name,
                alarm_description="The model container answers with 5xx errors.",
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=2,
                datapoints_to_alarm=2,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            _endpoint_metric(config, "ModelLatency", "p99").create_alarm(
                self,
                "P99Latency",
                alarm_name=latency_name,
                alarm_description="p99 model latency is above latency_p99_alarm_ms (ModelLatency is in microseconds).",
                threshold=config.latency_p99_alarm_ms * 1000,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        for alarm in self.alarms:
            _notify(alarm, topic)
            if condition is not None:
                alarm.node.default_child.cfn_options.condition = condition


class ApiAlarms(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: AppConfig, api: apigw.RestApi, topic: sns.ITopic
    ) -> None:
        super().__init__(scope, construct_id)
        stage = api.deployment_stage
        self.server_errors = _notify(
            stage.metric_server_error(statistic="Average", period=FIVE_MINUTES).create_alarm(
                self,
                "ServerErrors",
                alarm_name=config.alarm_name("api-5xx"),
                alarm_description="More than error_rate_alarm_percent of API calls end in 5xx.",
                threshold=config.error_rate_alarm_percent / 100,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            topic,
        )
        self.client_errors = _notify(
            stage.metric_client_error(statistic="Average", period=FIVE_MINUTES).create_alarm(
                self,
                "ClientErrors",
                alarm_name=config.alarm_name("api-4xx"),
                alarm_description="A quarter of API calls are rejected (bad bodies, auth, throttling).",
                threshold=API_4XX_ALARM_RATE,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            topic,
        )


class TrainingFailureAlarm(Construct):
    """A rule that matches this app's failed training jobs, and an alarm on how often it matched.

    The rule has no target: the registrar already reports each failure with its FailureReason; this alarm
    gives failures a CloudWatch state (and a dashboard line) like every other fault.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "TrainingJobFailed",
            description="One of this app's training jobs failed (counted for the training-failures alarm).",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Training Job State Change"],
                detail={
                    "TrainingJobName": events.Match.prefix(f"{config.name_prefix}-"),
                    "TrainingJobStatus": ["Failed"],
                },
            ),
        )
        self.metric = cloudwatch.Metric(
            namespace="AWS/Events",
            metric_name="TriggeredRules",
            dimensions_map={"RuleName": self.rule.rule_name},
            statistic="Sum",
            period=FIVE_MINUTES,
        )
        self.alarm = _notify(
            self.metric.create_alarm(
                self,
                "Alarm",
                alarm_name=config.alarm_name("training-failures"),
                alarm_description="A training job of this app failed; the notification topic has its FailureReason.",
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            topic,
        )


class ServingDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        api: apigw.RestApi,
        alarm_names: list[str],
    ) -> None:
        super().__init__(scope, construct_id)
        # Alarms by name, not by reference: some are conditional or live in another stack.
        alarms = [
            cloudwatch.Alarm.from_alarm_name(self, f"Alarm{i}", name) for i, name in enumerate(alarm_names)
        ]
        stage = api.deployment_stage
        utilization = "/aws/sagemaker/Endpoints"
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=config.name_prefix)
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Endpoint invocations and errors",
                left=[
                    _endpoint_metric(config, "Invocations", "Sum"),
                    _endpoint_metric(config, "InvocationModelErrors", "Sum"),
                    _endpoint_metric(config, "Invocation4XXErrors", "Sum"),
                    _endpoint_metric(config, "Invocation5XXErrors", "Sum"),
                ],
            ),
            cloudwatch.GraphWidget(
                title="Model latency (microseconds)",
                left=[_endpoint_metric(config, "ModelLatency", stat) for stat in ("p50", "p90", "p99")],
            ),
            cloudwatch.GraphWidget(
                title="Endpoint instances: GPU, GPU memory, CPU (%)",
                left=[
                    _endpoint_metric(config, name, "Average", namespace=utilization)
                    for name in ("GPUUtilization", "GPUMemoryUtilization", "CPUUtilization")
                ],
                right=[_endpoint_metric(config, "InvocationsPerInstance", "Sum")],
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API calls and errors",
                left=[stage.metric_count(period=ONE_MINUTE)],
                right=[
                    stage.metric_client_error(period=ONE_MINUTE, statistic="Sum"),
                    stage.metric_server_error(period=ONE_MINUTE, statistic="Sum"),
                ],
            ),
            cloudwatch.GraphWidget(
                title="API latency (ms)",
                left=[stage.metric_latency(period=ONE_MINUTE, statistic=s) for s in ("p50", "p99")]
                + [stage.metric_integration_latency(period=ONE_MINUTE, statistic="p99")],
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms),
        )
