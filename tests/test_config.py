"""The configuration object: defaults, coercion of `-c key=value` strings, and one clear error per bad value."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from stacks.config import ALLOWED_INSTANCE_TYPES, AppConfig, ConfigError
from tests.support.cdk_app import REPO_ROOT, cdk_json_context


def test_cdk_json_lists_every_key_with_the_documented_default():
    context = {key: value for key, value in cdk_json_context().items() if not key.startswith("@")}
    defaults = {f.name: getattr(AppConfig(), f.name) for f in dataclasses.fields(AppConfig)}
    assert context == defaults


def test_readme_documents_every_key_with_its_default():
    readme = (REPO_ROOT / "README.md").read_text()
    for f in dataclasses.fields(AppConfig):
        default = getattr(AppConfig(), f.name)
        shown = (
            "unset"
            if default is None
            else json.dumps(default)
            if isinstance(default, dict | bool)
            else str(default)
        )
        assert f"| `{f.name}` | `{shown}` |" in readme, f"README configuration table lacks {f.name} = {shown}"


def test_command_line_strings_are_coerced_to_the_declared_types():
    config = AppConfig.from_mapping(
        {
            "training_instance_count": "2",
            "use_spot_instances": "TRUE",
            "api_throttle_rate_limit": "12.5",
            "training_hyperparameters": '{"num_train_epochs": 1}',
            "model_data_url": "",
            "alarm_email": "none",
            "max_instance_count": "8",
        }
    )
    assert config.training_instance_count == 2
    assert config.use_spot_instances is True
    assert config.api_throttle_rate_limit == 12.5
    assert config.training_hyperparameters == {"num_train_epochs": 1}
    assert config.model_data_url is None
    assert config.alarm_email is None
    assert config.max_instance_count == 8


def test_defaults_are_a_gpu_endpoint_with_iam_auth():
    config = AppConfig.from_mapping({})
    assert config.serving_instance_type == "ml.g4dn.xlarge"
    assert config.api_auth == "iam"
    assert config.uses_iam_auth and not config.uses_api_keys
    assert config.endpoint_name == "textclf-endpoint"
    assert config.deployed_model_parameter_name == "/textclf/deployed-model/model-data-url"
    assert config.scale_out_cooldown_seconds < config.scale_in_cooldown_seconds


@pytest.mark.parametrize(
    ("values", "key", "allowed"),
    [
        ({"serving_instance_type": "ml.m5.xlarge"}, "serving_instance_type", "ml.g5.xlarge"),
        ({"training_instance_type": "ml.g4dn.3xlarge"}, "training_instance_type", "ml.g4dn.xlarge"),
        (
            {"min_instance_count": "3", "max_instance_count": "2"},
            "max_instance_count",
            "min_instance_count (3)",
        ),
        ({"initial_instance_count": "5"}, "initial_instance_count", "between min_instance_count (1)"),
        ({"min_instance_count": "0"}, "min_instance_count", "from 1 to 100"),
        ({"api_auth": "cognito"}, "api_auth", "iam, api_key, iam_and_api_key"),
        ({"api_throttle_rate_limit": "-1"}, "api_throttle_rate_limit", "a number from"),
        ({"api_throttle_burst_limit": "ten"}, "api_throttle_burst_limit", "a whole number"),
        ({"api_quota_requests_per_day": "0"}, "api_quota_requests_per_day", "a number from 1"),
        ({"use_spot_instances": "yes"}, "use_spot_instances", "true or false"),
        ({"name_prefix": "Bad_Prefix"}, "name_prefix", "lowercase letters"),
        ({"alarm_email": "ops-at-example"}, "alarm_email", "an e-mail address"),
        (
            {"model_data_url": "https://example.com/model.tar.gz"},
            "model_data_url",
            "s3://<bucket>/<key>.tar.gz",
        ),
        ({"transformers_version": "9.9.9"}, "transformers_version", "4.49.0"),
        ({"pytorch_inference_version": "1.0.0"}, "pytorch_inference_version", "2.6.0"),
        ({"inference_py_version": "py38"}, "inference_py_version", "py312"),
        ({"min_macro_f1": "1.5"}, "min_macro_f1", "from 0.0 to 1.0"),
        ({"canary_percent": "60"}, "canary_percent", "from 1 to 50"),
        ({"model_server_timeout_seconds": "120"}, "model_server_timeout_seconds", "from 1 to 60"),
        ({"log_retention_days": "10"}, "log_retention_days", "one of 1, 3, 5"),
        ({"training_hyperparameters": "[1, 2]"}, "training_hyperparameters", "a JSON object"),
        ({"scale_in_cooldown_seconds": "-5"}, "scale_in_cooldown_seconds", "from 0 to 3600"),
    ],
)
def test_each_bad_value_fails_with_the_key_and_the_allowed_values(values, key, allowed):
    with pytest.raises(ConfigError) as raised:
        AppConfig.from_mapping(values)
    message = str(raised.value)
    assert f"Invalid configuration {key}=" in message
    assert allowed in message
    assert f"-c {key}=" in message


def test_every_allowed_instance_type_is_a_gpu_type():
    assert "ml.g4dn.xlarge" in ALLOWED_INSTANCE_TYPES and "ml.g5.2xlarge" in ALLOWED_INSTANCE_TYPES
    assert not [t for t in ALLOWED_INSTANCE_TYPES if t.split(".")[1][0] not in "gp"]


def test_unknown_context_key_is_named_with_the_known_keys():
    from aws_cdk import App

    app = App(context={"nme_prefix": "x", "@aws-cdk/core:someFlag": True})
    with pytest.raises(ConfigError, match=r"Unknown configuration key\(s\) 'nme_prefix'.*name_prefix"):
        AppConfig.from_context(app.node)


def test_synth_entry_point_stops_with_one_clear_message(tmp_path):
    """app.py as the CDK CLI runs it: context arrives in CDK_CONTEXT_JSON, the value as a string."""
    context = {**cdk_json_context(), "serving_instance_type": "ml.t2.medium"}
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Configuration error:")]
    assert len(errors) == 1
    assert "serving_instance_type='ml.t2.medium'" in errors[0] and "ml.g4dn.xlarge" in errors[0]
    assert not list(tmp_path.glob("*.template.json"))


def test_cdk_cli_synth_coerces_command_line_values(tmp_path):
    """The real CLI (`cdk synth`, as `make synth` runs it) with `-c` overrides, which arrive as strings."""
    env = {
        **os.environ,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        [str(REPO_ROOT / "node_modules/.bin/cdk"), "synth", "--quiet", "--output", str(tmp_path),
         "-c", "max_instance_count=8", "-c", "api_auth=iam_and_api_key", "-c", "use_spot_instances=true"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "No model_data_url is configured" in result.stderr
    serving = json.loads((tmp_path / "textclf-serving.template.json").read_text())["Resources"]
    (target,) = [r for r in serving.values() if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"]
    assert target["Properties"]["MaxCapacity"] == 8
    (method,) = [r for r in serving.values() if r["Type"] == "AWS::ApiGateway::Method"]
    assert (
        method["Properties"]["AuthorizationType"] == "AWS_IAM"
        and method["Properties"]["ApiKeyRequired"] is True
    )
    training = json.loads((tmp_path / "textclf-training.template.json").read_text())["Resources"]
    launcher = [r for k, r in training.items() if r["Type"] == "AWS::Lambda::Function" and "Launcher" in k]
    assert launcher[0]["Properties"]["Environment"]["Variables"]["USE_SPOT_INSTANCES"] == "true"


def test_instance_storage_facts_agree_with_the_lambdas():
    """The endpoint config (CDK) and the launcher/deployer (mlops_common layer) decide KMS keys alike."""
    from tests.support.lambdas import lambda_module

    instance_types = lambda_module("deployer", "mlops_common.instance_types")
    for instance_type in ALLOWED_INSTANCE_TYPES:
        config = AppConfig.from_mapping({"serving_instance_type": instance_type})
        assert config.serving_has_instance_storage == instance_types.has_local_storage(instance_type), (
            instance_type
        )
