"""Build the CreateTrainingJob request for a checked dataset: pure functions, no AWS calls.

The request is what the SageMaker Python SDK's HuggingFace estimator would send for script mode
(`HuggingFace(entry_point="train.py", source_dir=<tar.gz>, ...).fit(...)`), without needing the SDK in a
Lambda: every hyperparameter is JSON-encoded into a string (`EstimatorBase._json_encode_hyperparameters`),
the script-mode entries `sagemaker_program`, `sagemaker_submit_directory`, `sagemaker_container_log_level`,
`sagemaker_job_name` and `sagemaker_region` are set as `Framework._script_mode_hyperparam_update` does,
`torch_distributed` adds `sagemaker_torch_distributed_enabled` + `sagemaker_instance_type` as
`HuggingFace._huggingface_distribution_configuration` does, and SageMaker metrics time series are on (the
estimator's default). The SDK's default Debugger hook and profiler are left out on purpose (cost, noise).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

from dataset_check import SplitFile
from job_request import MAX_RUNTIME_LIMIT_SECONDS, DatasetLocation, InvalidRequest, JobOptions
from launcher_config import LauncherConfig
from mlops_common.instance_types import has_local_storage

#: Script-mode entry point at the root of the source tarball (training/packaging.py writes it).
ENTRY_POINT = "train.py"
CONTAINER_INPUT_DIR = "/opt/ml/input/data"
CONTAINER_MODEL_DIR = "/opt/ml/model"
CONTAINER_CHECKPOINT_DIR = "/opt/ml/checkpoints"
#: The estimator's default storage volume (GB); instance types with local NVMe storage ignore it.
VOLUME_SIZE_GB = 30
TRAINING_OUTPUT_PREFIX = "training-jobs/"
CHECKPOINT_PREFIX = "checkpoints/"
JOB_NAME_MAX = 63
JOB_HASH_LENGTH = 10

#: Metrics the training script prints one per line as `name=value` (training/metrics.py): the Trainer's logs
#: while training (`loss`, per-epoch `eval_*`), then the final validation (`eval_*`, at the tuned thresholds
#: and `_at_0.5`) and test (`test_*`) figures. SageMaker reads them from the job's log with these regexes into
#: the console, CloudWatch and FinalMetricDataList (last value wins, i.e. the final figures).
PRINTED_METRICS = (
    "loss",
    "train_loss",
    "epoch",
    "eval_loss",
    "eval_f1_macro",
    "eval_f1_micro",
    "eval_f1_weighted",
    "eval_precision_macro",
    "eval_recall_macro",
    "eval_roc_auc_macro",
    "eval_subset_accuracy",
    "eval_hamming_loss",
    "eval_f1_macro_at_0.5",
    "test_loss",
    "test_f1_macro",
    "test_f1_micro",
    "test_roc_auc_macro",
    "test_f1_macro_at_0.5",
)
NUMBER_PATTERN = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"

#: Hyperparameters the launcher owns: data locations, the base model and the output directory.
MANAGED_HYPERPARAMETERS = (
    "model_name_or_path",
    "train_file",
    "validation_file",
    "test_file",
    "text_column_names",
    "label_column_name",
    "multi_hot_label_columns",
    "label_names_file",
    "output_dir",
    "checkpoint_dir",
)


@dataclass(frozen=True)
class ResolvedJob:
    """JobOptions with every default filled in from the stack settings: what the job will really do."""

    text_columns: tuple[str, ...] | None
    label_column: str | None
    multi_hot_label_columns: tuple[str, ...] | None
    label_names_file: str | None
    hyperparameters: dict[str, Any]
    instance_type: str
    instance_count: int
    base_model: str
    use_spot_instances: bool
    distributed: bool
    max_runtime_seconds: int
    #: Only there to tell apart otherwise identical runs (part of the job name).
    run_id: str | None


def resolve_job(options: JobOptions, config: LauncherConfig) -> ResolvedJob:
    """Merge request options over the stack defaults and refuse overrides of launcher-owned settings."""
    clashes = sorted(set(options.hyperparameters) & set(MANAGED_HYPERPARAMETERS))
    if clashes:
        raise InvalidRequest(
            [
                f"hyperparameter(s) {clashes} are set by the launcher from the dataset layout; "
                "use text_columns, label_column, multi_hot_label_columns, label_names_file or base_model instead"
            ]
        )
    instance_count = options.instance_count or config.instance_count
    return ResolvedJob(
        text_columns=options.text_columns,
        label_column=options.label_column,
        multi_hot_label_columns=options.multi_hot_label_columns,
        label_names_file=options.label_names_file,
        hyperparameters={**config.default_hyperparameters, **options.hyperparameters},
        instance_type=options.instance_type or config.instance_type,
        instance_count=instance_count,
        base_model=options.base_model or config.base_model_id,
        use_spot_instances=(
            config.use_spot_instances if options.use_spot_instances is None else options.use_spot_instances
        ),
        distributed=instance_count > 1 if options.distributed is None else options.distributed,
        max_runtime_seconds=options.max_runtime_seconds or config.max_runtime_seconds,
        run_id=options.run_id,
    )


def metric_definitions() -> list[dict[str, str]]:
    """One SageMaker MetricDefinition per printed metric; `\\b` allows prefixes such as torchrun's `[rank0]:`."""
    return [{"Name": name, "Regex": rf"\b{re.escape(name)}={NUMBER_PATTERN}"} for name in PRINTED_METRICS]


def encode_hyperparameters(values: dict[str, Any]) -> dict[str, str]:
    """The SDK's encoding: every value JSON-dumped to a string (so "x" becomes "\\"x\\"", 3 becomes "3")."""
    return {str(name): json.dumps(value) for name, value in values.items()}


def training_job_name(
    name_prefix: str,
    location: DatasetLocation,
    trigger_id: str,
    files: dict[str, SplitFile],
    job: ResolvedJob,
) -> str:
    """Deterministic: the same dataset upload (or request) and settings always give the same name.

    A redelivered event therefore finds the job it already started instead of starting a second one.
    """
    identity = {
        "dataset": location.uri,
        "trigger": trigger_id,
        "files": {split: f.etag for split, f in sorted(files.items())},
        "job": asdict(job),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    readable = re.sub(r"[^A-Za-z0-9]+", "-", f"{name_prefix}-{location.dataset}-{location.version}").strip(
        "-"
    )
    readable = readable[: JOB_NAME_MAX - JOB_HASH_LENGTH - 1].rstrip("-")
    return f"{readable}-{digest[:JOB_HASH_LENGTH]}"


def _channel(name: str, s3_uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": s3_uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "InputMode": "File",
    }


def build_create_training_job_request(
    config: LauncherConfig,
    location: DatasetLocation,
    files: dict[str, SplitFile],
    job: ResolvedJob,
    job_name: str,
) -> dict[str, Any]:
    """The complete CreateTrainingJob request (boto3 keyword arguments)."""
    channels = [_channel(split, f"s3://{location.bucket}/{f.key}") for split, f in sorted(files.items())]
    script_arguments: dict[str, Any] = {
        f"{split}_file": f"{CONTAINER_INPUT_DIR}/{split}/{f.file_name}" for split, f in files.items()
    }
    if job.base_model.startswith("s3://"):
        channels.append(_channel("model", job.base_model))
        script_arguments["model_name_or_path"] = f"{CONTAINER_INPUT_DIR}/model"
    else:
        script_arguments["model_name_or_path"] = job.base_model
    if job.label_names_file:
        channels.append(
            _channel("label_names", f"s3://{location.bucket}/{location.prefix}{job.label_names_file}")
        )
        script_arguments["label_names_file"] = f"{CONTAINER_INPUT_DIR}/label_names/{job.label_names_file}"
    if job.text_columns:
        script_arguments["text_column_names"] = ",".join(job.text_columns)
    if job.label_column:
        script_arguments["label_column_name"] = job.label_column
    if job.multi_hot_label_columns:
        script_arguments["multi_hot_label_columns"] = ",".join(job.multi_hot_label_columns)
    script_arguments["output_dir"] = CONTAINER_MODEL_DIR

    sagemaker_settings: dict[str, Any] = {
        "sagemaker_submit_directory": config.training_source_s3_uri,
        "sagemaker_program": ENTRY_POINT,
        "sagemaker_container_log_level": logging.INFO,
        "sagemaker_job_name": job_name,
        "sagemaker_region": config.region,
    }
    if job.distributed:
        sagemaker_settings["sagemaker_torch_distributed_enabled"] = True
        sagemaker_settings["sagemaker_instance_type"] = job.instance_type

    stopping_condition: dict[str, int] = {"MaxRuntimeInSeconds": job.max_runtime_seconds}
    resource_config: dict[str, Any] = {
        "InstanceType": job.instance_type,
        "InstanceCount": job.instance_count,
        "VolumeSizeInGB": VOLUME_SIZE_GB,
    }
    if not has_local_storage(job.instance_type):
        resource_config["VolumeKmsKeyId"] = config.kms_key_arn

    request: dict[str, Any] = {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {
            "TrainingImage": config.training_image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": metric_definitions(),
            "EnableSageMakerMetricsTimeSeries": True,
        },
        "RoleArn": config.sagemaker_role_arn,
        "InputDataConfig": channels,
        "OutputDataConfig": {
            "S3OutputPath": f"s3://{config.models_bucket}/{TRAINING_OUTPUT_PREFIX}",
            "KmsKeyId": config.kms_key_arn,
        },
        "ResourceConfig": resource_config,
        "StoppingCondition": stopping_condition,
        "EnableInterContainerTrafficEncryption": job.instance_count > 1,
        "Tags": [
            {"Key": "mlops:dataset", "Value": f"{location.dataset}/{location.version}"},
            {"Key": "mlops:name-prefix", "Value": config.name_prefix},
        ],
    }
    if job.use_spot_instances:
        request["EnableManagedSpotTraining"] = True
        # Time spent waiting for spot capacity counts too: allow as long again, within SageMaker's ceiling.
        stopping_condition["MaxWaitTimeInSeconds"] = max(
            job.max_runtime_seconds, min(2 * job.max_runtime_seconds, MAX_RUNTIME_LIMIT_SECONDS)
        )
        request["CheckpointConfig"] = {
            "S3Uri": f"s3://{config.models_bucket}/{CHECKPOINT_PREFIX}{job_name}/",
            "LocalPath": CONTAINER_CHECKPOINT_DIR,
        }
        script_arguments["checkpoint_dir"] = CONTAINER_CHECKPOINT_DIR
    request["HyperParameters"] = encode_hyperparameters(
        {**job.hyperparameters, **script_arguments, **sagemaker_settings}
    )
    return request
