"""Compose the app: read the configuration once, build the three stacks, run cdk-nag on all of them."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import App, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.config import AppConfig
from stacks.data_stack import DataStack
from stacks.serving_stack import ServingStack
from stacks.training_stack import TrainingStack


@dataclass(frozen=True)
class Application:
    config: AppConfig
    data: DataStack
    training: TrainingStack
    serving: ServingStack


def build_application(app: App, config: AppConfig | None = None) -> Application:
    """Build every stack (environment-agnostic) from `config`, or from the app's context when not given."""
    config = config or AppConfig.from_context(app.node)
    data = DataStack(
        app,
        config.stack_name("data"),
        config=config,
        description=f"{config.name_prefix}: data (key, buckets, topic, SageMaker role)",
    )
    serving = ServingStack(
        app,
        config.stack_name("serving"),
        config=config,
        data=data,
        description=f"{config.name_prefix}: endpoint, autoscaling, API and monitoring",
    )
    training = TrainingStack(
        app,
        config.stack_name("training"),
        config=config,
        data=data,
        serving_generated_names=serving.endpoint.generated_name_patterns,
        description=f"{config.name_prefix}: training launcher and MLOps loop",
    )
    Tags.of(app).add("app", config.name_prefix)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return Application(config=config, data=data, training=training, serving=serving)
