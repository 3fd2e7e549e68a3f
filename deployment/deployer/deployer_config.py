"""The deployer's settings, read once per invocation from the environment the CDK stack sets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlops_common.settings import EnvReader, SettingError

#: SageMaker limits (TrafficRoutingConfig, BlueGreenUpdatePolicy, AutoRollbackConfig).
MAX_WAIT_SECONDS = 3600
MAX_ROLLBACK_ALARMS = 10
#: The canary may be at most half of the new fleet.
MAX_CANARY_PERCENT = 50


@dataclass(frozen=True)
class DeployerConfig:
    region: str
    endpoint_name: str
    sagemaker_role_arn: str
    instance_type: str
    initial_instance_count: int
    kms_key_arn: str
    rollback_alarm_names: tuple[str, ...]
    canary_percent: int
    wait_interval_seconds: int
    termination_wait_seconds: int
    deployed_model_parameter: str
    serving_stack_name: str
    notification_topic_arn: str
    model_environment: dict[str, str]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> DeployerConfig:
        env = EnvReader(environ)
        config = cls(
            region=env.text("AWS_REGION"),
            endpoint_name=env.text("ENDPOINT_NAME"),
            sagemaker_role_arn=env.text("SAGEMAKER_ROLE_ARN"),
            instance_type=env.text("INSTANCE_TYPE"),
            initial_instance_count=env.integer("INITIAL_INSTANCE_COUNT", minimum=1),
            kms_key_arn=env.text("KMS_KEY_ARN"),
            rollback_alarm_names=env.names("ROLLBACK_ALARM_NAMES"),
            canary_percent=env.integer("CANARY_PERCENT", minimum=1),
            wait_interval_seconds=env.integer("WAIT_INTERVAL_SECONDS", minimum=0),
            termination_wait_seconds=env.integer("TERMINATION_WAIT_SECONDS", default=600, minimum=0),
            deployed_model_parameter=env.text("DEPLOYED_MODEL_PARAMETER"),
            serving_stack_name=env.text("SERVING_STACK_NAME"),
            notification_topic_arn=env.text("NOTIFICATION_TOPIC_ARN"),
            model_environment={
                k: str(v) for k, v in env.json_object("MODEL_ENVIRONMENT", default={}).items()
            },
        )
        if config.canary_percent > MAX_CANARY_PERCENT:
            raise SettingError(
                f"CANARY_PERCENT must be at most {MAX_CANARY_PERCENT}, got {config.canary_percent}"
            )
        for name, value in (
            ("WAIT_INTERVAL_SECONDS", config.wait_interval_seconds),
            ("TERMINATION_WAIT_SECONDS", config.termination_wait_seconds),
        ):
            if value > MAX_WAIT_SECONDS:
                raise SettingError(f"{name} must be at most {MAX_WAIT_SECONDS}, got {value}")
        if not 1 <= len(config.rollback_alarm_names) <= MAX_ROLLBACK_ALARMS:
            raise SettingError(
                f"ROLLBACK_ALARM_NAMES must name 1 to {MAX_ROLLBACK_ALARMS} CloudWatch alarms, "
                f"got {len(config.rollback_alarm_names)}"
            )
        return config
