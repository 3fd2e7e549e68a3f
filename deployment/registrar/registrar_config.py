"""The registrar's settings, read once per invocation from the environment the CDK stack sets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlops_common.settings import EnvReader


@dataclass(frozen=True)
class RegistrarConfig:
    region: str
    model_package_group_name: str
    inference_image_uri: str
    notification_topic_arn: str
    min_macro_f1: float
    max_f1_regression: float
    deployed_model_parameter: str
    name_prefix: str
    models_bucket: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RegistrarConfig:
        env = EnvReader(environ)
        return cls(
            region=env.text("AWS_REGION"),
            model_package_group_name=env.text("MODEL_PACKAGE_GROUP_NAME"),
            inference_image_uri=env.text("INFERENCE_IMAGE_URI"),
            notification_topic_arn=env.text("NOTIFICATION_TOPIC_ARN"),
            min_macro_f1=env.number("MIN_MACRO_F1"),
            max_f1_regression=env.number("MAX_F1_REGRESSION"),
            deployed_model_parameter=env.text("DEPLOYED_MODEL_PARAMETER"),
            name_prefix=env.text("NAME_PREFIX"),
            models_bucket=env.text("MODELS_BUCKET"),
        )
