"""The launcher's settings, read once per invocation from the environment the CDK stack sets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops_common.settings import EnvReader


@dataclass(frozen=True)
class LauncherConfig:
    region: str
    datasets_bucket: str
    models_bucket: str
    sagemaker_role_arn: str
    training_image_uri: str
    training_source_s3_uri: str
    kms_key_arn: str
    notification_topic_arn: str
    name_prefix: str
    instance_type: str
    instance_count: int
    base_model_id: str
    max_runtime_seconds: int
    use_spot_instances: bool
    default_hyperparameters: dict[str, Any]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> LauncherConfig:
        env = EnvReader(environ)
        return cls(
            region=env.text("AWS_REGION"),
            datasets_bucket=env.text("DATASETS_BUCKET"),
            models_bucket=env.text("MODELS_BUCKET"),
            sagemaker_role_arn=env.text("SAGEMAKER_ROLE_ARN"),
            training_image_uri=env.text("TRAINING_IMAGE_URI"),
            training_source_s3_uri=env.text("TRAINING_SOURCE_S3_URI"),
            kms_key_arn=env.text("KMS_KEY_ARN"),
            notification_topic_arn=env.text("NOTIFICATION_TOPIC_ARN"),
            name_prefix=env.text("NAME_PREFIX"),
            instance_type=env.text("TRAINING_INSTANCE_TYPE"),
            instance_count=env.integer("TRAINING_INSTANCE_COUNT", default=1, minimum=1),
            base_model_id=env.text("BASE_MODEL_ID"),
            max_runtime_seconds=env.integer("MAX_RUNTIME_SECONDS", default=86400, minimum=60),
            use_spot_instances=env.flag("USE_SPOT_INSTANCES", default=False),
            default_hyperparameters=env.json_object("DEFAULT_HYPERPARAMETERS", default={}),
        )
