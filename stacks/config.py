"""The deployment configuration: read once from CDK context, coerced, validated, passed down as one object.

Every key lives in `cdk.json` ("context") and can be overridden with `cdk synth -c key=value`. Values given on
the command line arrive as strings, so each field is coerced to its declared type before it is validated. A bad
value stops the synth with one message that names the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from constructs import Node


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range."""


#: GPU instance families the CUDA 12.4 Hugging Face DLCs run on, their sizes, and whether they carry local NVMe
#: instance storage (SageMaker then refuses a KMS key for the volume: local storage is hardware-encrypted).
GPU_FAMILIES: dict[str, tuple[tuple[str, ...], bool]] = {
    "g4dn": (("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"), True),
    "g5": (("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"), True),
    "g6": (("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"), True),
    "g6e": (
        ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"),
        True,
    ),
    "p3": (("2xlarge", "8xlarge", "16xlarge"), False),
    "p3dn": (("24xlarge",), True),
    "p4d": (("24xlarge",), True),
    "p4de": (("24xlarge",), True),
    "p5": (("48xlarge",), True),
}
ALLOWED_INSTANCE_TYPES = tuple(
    f"ml.{family}.{size}" for family, (sizes, _) in GPU_FAMILIES.items() for size in sizes
)
API_AUTH_MODES = ("iam", "api_key", "iam_and_api_key")
#: Retention values CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

_NAME_PREFIX = re.compile(r"^[a-z][a-z0-9-]{1,18}[a-z0-9]$")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_S3_TARBALL = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+\.tar\.gz)$")


@dataclass(frozen=True)
class AppConfig:
    """All deployment choices. Defaults here are the documented defaults; cdk.json repeats them for discovery."""

    # Names: every resource name, the endpoint (`<prefix>-endpoint`) and the stacks derive from it.
    name_prefix: str = "textclf"

    # Training (the launcher Lambda builds CreateTrainingJob from these; a dataset manifest may override some).
    training_instance_type: str = "ml.g4dn.xlarge"
    training_instance_count: int = 1
    max_training_runtime_seconds: int = 4 * 3600
    use_spot_instances: bool = False
    base_model_id: str = "bert-base-uncased"
    training_hyperparameters: dict = field(
        default_factory=lambda: {
            "num_train_epochs": 3,
            "learning_rate": 2e-5,
            "per_device_train_batch_size": 32,
        }
    )

    # Hugging Face DLC versions (one transformers version for training and serving).
    transformers_version: str = "4.49.0"
    pytorch_training_version: str = "2.5.1"
    training_py_version: str = "py311"
    pytorch_inference_version: str = "2.6.0"
    inference_py_version: str = "py312"

    # Serving: the real-time endpoint and its autoscaling.
    serving_instance_type: str = "ml.g4dn.xlarge"
    initial_instance_count: int = 1
    min_instance_count: int = 1
    max_instance_count: int = 4
    target_invocations_per_instance: int = 600
    scale_out_cooldown_seconds: int = 60
    scale_in_cooldown_seconds: int = 600
    model_server_workers: int = 1
    model_server_timeout_seconds: int = 60
    model_data_url: str | None = None

    # Model gate and blue/green rollout.
    min_macro_f1: float = 0.5
    max_f1_regression: float = 0.01
    canary_percent: int = 10
    canary_wait_seconds: int = 600

    # API front door.
    api_auth: str = "iam"
    api_throttle_rate_limit: float = 50.0
    api_throttle_burst_limit: int = 100
    api_quota_requests_per_day: int = 100_000

    # Monitoring.
    alarm_email: str | None = None
    latency_p99_alarm_ms: int = 1000
    error_rate_alarm_percent: float = 5.0
    log_retention_days: int = 90
    powertools_layer_version: int = 27

    # ---- construction -------------------------------------------------------------------------------------

    @classmethod
    def from_context(cls, node: Node) -> AppConfig:
        """Read every key from CDK context (cdk.json, then `-c` overrides); reject unknown plain keys (typos)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(key for key in node.get_all_context() if _is_plain_key(key) and key not in known)
        if unknown:
            raise ConfigError(
                f"Unknown configuration key(s) {', '.join(map(repr, unknown))}. Known keys: {', '.join(sorted(known))}."
            )
        values = {name: node.try_get_context(name) for name in known}
        return cls.from_mapping({name: value for name, value in values.items() if value is not None})

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> AppConfig:
        """Coerce each value to its field's type and validate the whole configuration."""
        hints = typing.get_type_hints(cls)
        unknown = sorted(set(values) - set(hints))
        if unknown:
            raise ConfigError(f"Unknown configuration key(s) {', '.join(map(repr, unknown))}.")
        config = cls(**{name: _coerce(name, value, hints[name]) for name, value in values.items()})
        config._validate()
        return config

    # ---- derived names (one place, shared by the stacks and the Lambdas' environment) -----------------------

    @property
    def endpoint_name(self) -> str:
        return f"{self.name_prefix}-endpoint"

    @property
    def model_package_group_name(self) -> str:
        return f"{self.name_prefix}-models"

    @property
    def deployed_model_parameter_name(self) -> str:
        return f"/{self.name_prefix}/deployed-model/model-data-url"

    def stack_name(self, role: str) -> str:
        return f"{self.name_prefix}-{role}"

    def alarm_name(self, what: str) -> str:
        return f"{self.name_prefix}-{what}"

    @property
    def serving_has_instance_storage(self) -> bool:
        """True when the serving instance has local NVMe storage (no KMS key may be given for its volume)."""
        return GPU_FAMILIES[self.serving_instance_type.split(".")[1]][1]

    @property
    def uses_api_keys(self) -> bool:
        return self.api_auth in ("api_key", "iam_and_api_key")

    @property
    def uses_iam_auth(self) -> bool:
        return self.api_auth in ("iam", "iam_and_api_key")

    # ---- validation ----------------------------------------------------------------------------------------

    def _validate(self) -> None:
        _check(
            self,
            "name_prefix",
            bool(_NAME_PREFIX.match(self.name_prefix)),
            "3 to 20 characters: lowercase letters, digits and '-', starting with a letter, not ending with '-'",
        )
        for key in ("training_instance_type", "serving_instance_type"):
            _check(
                self,
                key,
                getattr(self, key) in ALLOWED_INSTANCE_TYPES,
                f"a GPU instance type, one of {', '.join(ALLOWED_INSTANCE_TYPES)}",
            )
        _check_range(self, "training_instance_count", 1, 16)
        _check_range(self, "max_training_runtime_seconds", 600, 28 * 24 * 3600)
        _check(
            self,
            "base_model_id",
            bool(_MODEL_ID.match(self.base_model_id)),
            "a Hugging Face model id such as 'bert-base-uncased' or 'org/name'",
        )
        _check(
            self,
            "training_hyperparameters",
            all(isinstance(k, str) and k for k in self.training_hyperparameters),
            "a JSON object of hyperparameter name -> value",
        )
        self._validate_versions()
        _check_range(self, "min_instance_count", 1, 100)
        _check_range(self, "max_instance_count", 1, 100)
        _check(
            self,
            "max_instance_count",
            self.min_instance_count <= self.max_instance_count,
            f"at least min_instance_count ({self.min_instance_count})",
        )
        _check(
            self,
            "initial_instance_count",
            self.min_instance_count <= self.initial_instance_count <= self.max_instance_count,
            f"between min_instance_count ({self.min_instance_count}) and max_instance_count ({self.max_instance_count})",
        )
        _check_range(self, "target_invocations_per_instance", 1, 1_000_000)
        _check_range(self, "scale_out_cooldown_seconds", 0, 3600)
        _check_range(self, "scale_in_cooldown_seconds", 0, 3600)
        _check_range(self, "model_server_workers", 1, 64)
        _check_range(self, "model_server_timeout_seconds", 1, 60)  # InvokeEndpoint gives up after 60 s
        if self.model_data_url is not None:
            _check(
                self,
                "model_data_url",
                bool(_S3_TARBALL.match(self.model_data_url)),
                "an S3 URL of a model archive, s3://<bucket>/<key>.tar.gz, or unset",
            )
        _check_range(self, "min_macro_f1", 0.0, 1.0)
        _check_range(self, "max_f1_regression", 0.0, 1.0)
        _check_range(self, "canary_percent", 1, 50)  # the canary is at most half the new fleet
        _check_range(self, "canary_wait_seconds", 0, 3600)
        _check(self, "api_auth", self.api_auth in API_AUTH_MODES, f"one of {', '.join(API_AUTH_MODES)}")
        _check_range(self, "api_throttle_rate_limit", 0.001, 10_000.0)
        _check_range(self, "api_throttle_burst_limit", 1, 5_000)
        _check_range(self, "api_quota_requests_per_day", 1, 1_000_000_000)
        if self.alarm_email is not None:
            _check(self, "alarm_email", bool(_EMAIL.match(self.alarm_email)), "an e-mail address, or unset")
        _check_range(self, "latency_p99_alarm_ms", 1, 600_000)
        _check_range(self, "error_rate_alarm_percent", 0.01, 100.0)
        _check(
            self,
            "log_retention_days",
            self.log_retention_days in LOG_RETENTION_DAYS,
            f"one of {', '.join(map(str, LOG_RETENTION_DAYS))}",
        )
        _check_range(self, "powertools_layer_version", 1, 1000)

    def _validate_versions(self) -> None:
        """The DLC versions must exist in the SageMaker SDK's image data (so images resolve in every region)."""
        for scope, pytorch_key, py_key in (
            ("training", "pytorch_training_version", "training_py_version"),
            ("inference", "pytorch_inference_version", "inference_py_version"),
        ):
            versions = huggingface_dlc_versions(scope)
            _check(
                self,
                "transformers_version",
                self.transformers_version in versions,
                f"a transformers version with a Hugging Face {scope} DLC: {', '.join(versions)}",
            )
            frameworks = versions[self.transformers_version]
            pytorch = getattr(self, pytorch_key)
            _check(
                self,
                pytorch_key,
                pytorch in frameworks,
                f"a PyTorch version of the transformers {self.transformers_version} {scope} DLC: {', '.join(frameworks)}",
            )
            py_versions = frameworks[pytorch]
            _check(
                self,
                py_key,
                getattr(self, py_key) in py_versions,
                f"a Python version of that {scope} DLC: {', '.join(py_versions)}",
            )


@cache
def huggingface_dlc_versions(scope: str) -> dict[str, dict[str, list[str]]]:
    """{transformers version: {pytorch version: [py versions]}} of the HF DLCs known to sagemaker-core."""
    from sagemaker.core import image_uris

    versions = image_uris.config_for_framework("huggingface")[scope]["versions"]
    return {
        transformers: {
            framework.removeprefix("pytorch"): entry[framework]["py_versions"]
            for framework in entry
            if framework.startswith("pytorch")
        }
        for transformers, entry in versions.items()
        if isinstance(entry, dict)
    }


def _is_plain_key(key: str) -> bool:
    """CDK's own context keys are namespaced (`@aws-cdk/...`, `aws:cdk:...`, `cdk-...`); ours are plain words."""
    return bool(re.fullmatch(r"[a-z][a-z0-9_]*", key))


def _check(config: AppConfig, key: str, ok: bool, allowed: str) -> None:
    if not ok:
        raise ConfigError(
            f"Invalid configuration {key}={getattr(config, key)!r}: allowed: {allowed}. "
            f"Set it in cdk.json (context) or with `-c {key}=...`."
        )


def _check_range(config: AppConfig, key: str, low: float, high: float) -> None:
    value = getattr(config, key)
    _check(config, key, low <= value <= high, f"a number from {low} to {high}")


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Turn a context value (JSON from cdk.json, or a string from `-c`) into the field's type."""
    optional = type(None) in typing.get_args(hint)
    target = next((arg for arg in typing.get_args(hint) if arg is not type(None)), hint)
    if optional and (
        value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null"))
    ):
        return None
    try:
        if target is bool:
            return _to_bool(value)
        if target is int:
            return _to_int(value)
        if target is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if target is dict:
            parsed = json.loads(value) if isinstance(value, str) else value
            if not isinstance(parsed, dict):
                raise ValueError
            return parsed
        if target is str and isinstance(value, str):
            return value.strip()
        raise ValueError
    except (ValueError, TypeError):
        kind = {
            bool: "true or false",
            int: "a whole number",
            float: "a number",
            dict: "a JSON object",
            str: "a string",
        }
        raise ConfigError(
            f"Invalid configuration {key}={value!r}: allowed: {kind[target]}"
            f"{' (or unset)' if optional else ''}. Set it in cdk.json (context) or with `-c {key}=...`."
        ) from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ValueError
