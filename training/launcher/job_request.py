"""What a training run asks for: the dataset location and the options of a manifest or a direct request.

Pure parsing and validation, no AWS calls. Every bad field is reported (all of them at once, each naming the
field and what is wrong) so the uploader fixes the manifest in one go.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

DATASETS_ROOT = "datasets/"
MANIFEST_NAME = "manifest.json"
REJECTION_NAME = "_rejected.json"
#: Dataset and version names: path segments that are safe in S3 keys, job names and tags.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
INSTANCE_TYPE_PATTERN = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
HYPERPARAMETER_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_INSTANCE_COUNT = 32
#: SageMaker allows 100 hyperparameters of at most 2500 characters; the launcher sets about 15 itself.
MAX_USER_HYPERPARAMETERS = 80
MAX_HYPERPARAMETER_LENGTH = 2500
#: SageMaker's MaxRuntimeInSeconds ceiling for a training job (28 days).
MAX_RUNTIME_LIMIT_SECONDS = 28 * 24 * 3600
#: Fields a manifest (and a direct request) may set; anything else is a typo worth reporting.
#: The column fields mean what training/train.py's hyperparameters of the same names mean.
OPTION_FIELDS = (
    "text_columns",
    "label_column",
    "multi_hot_label_columns",
    "label_names_file",
    "hyperparameters",
    "instance_type",
    "instance_count",
    "base_model",
    "use_spot_instances",
    "distributed",
    "max_runtime_seconds",
    "run_id",
)
#: Fields only a direct request has: where the dataset is.
LOCATION_FIELDS = ("dataset_uri", "dataset", "version")


class InvalidRequest(ValueError):
    """A manifest or job request with bad fields; `problems` has one readable line per bad field."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class DatasetLocation:
    """One version of one dataset: `s3://<bucket>/datasets/<dataset>/<version>/`."""

    bucket: str
    dataset: str
    version: str

    @property
    def prefix(self) -> str:
        return f"{DATASETS_ROOT}{self.dataset}/{self.version}/"

    @property
    def manifest_key(self) -> str:
        return self.prefix + MANIFEST_NAME

    @property
    def rejection_key(self) -> str:
        return self.prefix + REJECTION_NAME

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class JobOptions:
    """The optional knobs of a run; None means "use the default" (the stack's, or train.py's for columns)."""

    #: Text column(s), joined when several (train.py default: `text` or `sentence`).
    text_columns: tuple[str, ...] | None = None
    #: One column holding each row's labels, e.g. `insult|threat` (train.py default: `label` or `labels`).
    label_column: str | None = None
    #: Or one 0/1 column per label, the column name being the label name.
    multi_hot_label_columns: tuple[str, ...] | None = None
    label_names_file: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    instance_type: str | None = None
    instance_count: int | None = None
    base_model: str | None = None
    use_spot_instances: bool | None = None
    distributed: bool | None = None
    max_runtime_seconds: int | None = None
    run_id: str | None = None


def location_from_manifest_key(bucket: str, key: str) -> DatasetLocation:
    """`datasets/<dataset>/<version>/manifest.json` -> its DatasetLocation (InvalidRequest otherwise)."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] + "/" != DATASETS_ROOT or parts[3] != MANIFEST_NAME:
        raise InvalidRequest(
            [
                f"manifest key {key!r} does not follow the convention "
                f"{DATASETS_ROOT}<dataset>/<version>/{MANIFEST_NAME}"
            ]
        )
    return _location(bucket, parts[1], parts[2], source=f"manifest key {key!r}")


def location_from_request(request: dict[str, Any], datasets_bucket: str) -> DatasetLocation:
    """The dataset a direct request names: `dataset_uri`, or `dataset` + `version`."""
    uri = request.get("dataset_uri")
    if uri is not None:
        if "dataset" in request or "version" in request:
            raise InvalidRequest(["give either dataset_uri or dataset + version, not both"])
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise InvalidRequest([f"dataset_uri must be an s3:// URI, got {uri!r}"])
        bucket, _, key = uri[len("s3://") :].partition("/")
        if bucket != datasets_bucket:
            raise InvalidRequest(
                [f"dataset_uri must be in the datasets bucket {datasets_bucket!r}, got bucket {bucket!r}"]
            )
        parts = key.rstrip("/").split("/")
        if len(parts) != 3 or parts[0] + "/" != DATASETS_ROOT:
            raise InvalidRequest(
                [
                    f"dataset_uri {uri!r} does not follow the convention "
                    f"s3://{datasets_bucket}/{DATASETS_ROOT}<dataset>/<version>/"
                ]
            )
        return _location(bucket, parts[1], parts[2], source=f"dataset_uri {uri!r}")
    dataset, version = request.get("dataset"), request.get("version")
    if dataset is None or version is None:
        raise InvalidRequest(["the request must name the data: dataset_uri, or dataset and version"])
    return _location(datasets_bucket, dataset, version, source="the request")


def _location(bucket: str, dataset: Any, version: Any, source: str) -> DatasetLocation:
    problems = [
        f"{what} {value!r} in {source} must be 1-64 letters, digits, '.', '_' or '-' (starting alphanumeric)"
        for what, value in (("dataset name", dataset), ("dataset version", version))
        if not isinstance(value, str) or not NAME_PATTERN.match(value)
    ]
    if problems:
        raise InvalidRequest(problems)
    return DatasetLocation(bucket=bucket, dataset=dataset, version=version)


def parse_options(raw: Any, source: str, allowed_extra: tuple[str, ...] = ()) -> JobOptions:
    """Validate a manifest / request body into JobOptions; InvalidRequest lists every bad field."""
    if not isinstance(raw, dict):
        raise InvalidRequest([f"{source} must be a JSON object, got {type(raw).__name__}"])
    problems: list[str] = []
    unknown = sorted(set(raw) - set(OPTION_FIELDS) - set(allowed_extra))
    if unknown:
        problems.append(f"{source} has unknown field(s) {unknown}; allowed: {list(OPTION_FIELDS)}")

    def check(name: str, ok: bool, expectation: str) -> None:
        if name in raw and not ok:
            problems.append(f"{name} must be {expectation}, got {raw[name]!r}")

    column_list = "a column name or a non-empty list of unique column names"
    text_columns = _column_list(raw.get("text_columns"))
    check("text_columns", text_columns is not None, column_list)
    label_column = raw.get("label_column")
    check("label_column", isinstance(label_column, str) and bool(label_column.strip()), "a column name")
    multi_hot = _column_list(raw.get("multi_hot_label_columns"))
    check("multi_hot_label_columns", multi_hot is not None, column_list)
    if "label_column" in raw and "multi_hot_label_columns" in raw:
        problems.append("set label_column or multi_hot_label_columns, not both")
    label_columns = set(multi_hot or ()) | ({label_column} if isinstance(label_column, str) else set())
    if text_columns and set(text_columns) & label_columns:
        overlap = sorted(set(text_columns) & label_columns)
        problems.append(f"text_columns and the label columns overlap: {overlap}")
    names_file = raw.get("label_names_file")
    check(
        "label_names_file",
        names_file is None or (isinstance(names_file, str) and NAME_PATTERN.match(names_file) is not None),
        "a file name next to the data (letters, digits, '.', '_', '-')",
    )
    hyperparameters = raw.get("hyperparameters", {})
    problems.extend(_hyperparameter_problems(hyperparameters))
    instance_type = raw.get("instance_type")
    check(
        "instance_type",
        isinstance(instance_type, str) and INSTANCE_TYPE_PATTERN.match(instance_type) is not None,
        "a SageMaker training instance type such as ml.g5.2xlarge",
    )
    instance_count = raw.get("instance_count")
    check(
        "instance_count",
        _is_int(instance_count) and 1 <= instance_count <= MAX_INSTANCE_COUNT,
        f"an integer from 1 to {MAX_INSTANCE_COUNT}",
    )
    base_model = raw.get("base_model")
    check(
        "base_model",
        isinstance(base_model, str) and bool(base_model.strip()) and len(base_model) <= 1024,
        "a Hugging Face model id (e.g. bert-base-uncased) or an s3:// URI of a model directory",
    )
    for flag in ("use_spot_instances", "distributed"):
        check(flag, isinstance(raw.get(flag), bool), "true or false")
    max_runtime = raw.get("max_runtime_seconds")
    check(
        "max_runtime_seconds",
        _is_int(max_runtime) and 60 <= max_runtime <= MAX_RUNTIME_LIMIT_SECONDS,
        f"an integer number of seconds from 60 to {MAX_RUNTIME_LIMIT_SECONDS}",
    )
    run_id = raw.get("run_id")
    check(
        "run_id",
        isinstance(run_id, str) and RUN_ID_PATTERN.match(run_id) is not None,
        "1-64 letters, digits, '.', '_' or '-'",
    )
    if _is_int(instance_count) and instance_count > 1 and raw.get("distributed") is False:
        problems.append(
            "distributed is false but instance_count > 1: every instance would train its own copy; "
            "leave distributed out (it is switched on for multi-instance jobs) or set it to true"
        )
    if problems:
        raise InvalidRequest(problems)
    return JobOptions(
        text_columns=text_columns,
        label_column=label_column,
        multi_hot_label_columns=multi_hot,
        label_names_file=names_file,
        hyperparameters=dict(hyperparameters),
        instance_type=instance_type,
        instance_count=instance_count,
        base_model=base_model,
        use_spot_instances=raw.get("use_spot_instances"),
        distributed=raw.get("distributed"),
        max_runtime_seconds=max_runtime,
        run_id=run_id,
    )


def merge_request_into_manifest(manifest: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """A direct request overrides the dataset's manifest field by field (hyperparameters key by key)."""
    merged = {**manifest, **{k: v for k, v in request.items() if k not in LOCATION_FIELDS}}
    if isinstance(manifest.get("hyperparameters"), dict) and isinstance(request.get("hyperparameters"), dict):
        merged["hyperparameters"] = {**manifest["hyperparameters"], **request["hyperparameters"]}
    return merged


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _column_list(value: Any) -> tuple[str, ...] | None:
    """A column name or a list of them as a tuple; None when absent or malformed (check() tells which)."""
    columns = [value] if isinstance(value, str) else value
    if (
        not isinstance(columns, list)
        or not columns
        or not all(isinstance(c, str) and c.strip() and len(c) <= 256 for c in columns)
        or len(set(columns)) != len(columns)
    ):
        return None
    return tuple(columns)


def _hyperparameter_problems(hyperparameters: Any) -> list[str]:
    if not isinstance(hyperparameters, dict):
        return [f"hyperparameters must be a JSON object of name: value, got {hyperparameters!r}"]
    problems = []
    if len(hyperparameters) > MAX_USER_HYPERPARAMETERS:
        problems.append(f"at most {MAX_USER_HYPERPARAMETERS} hyperparameters, got {len(hyperparameters)}")
    for name, value in hyperparameters.items():
        if not HYPERPARAMETER_NAME_PATTERN.match(name):
            problems.append(f"hyperparameter name {name!r} must be letters, digits, '_' or '-'")
        elif name.startswith("sagemaker_"):
            problems.append(f"hyperparameter {name!r} is reserved: sagemaker_* is set by the launcher")
        if value is None or not isinstance(value, str | int | float | bool):
            problems.append(f"hyperparameter {name!r} must be a string, number or boolean, got {value!r}")
        elif len(json.dumps(value)) > MAX_HYPERPARAMETER_LENGTH:
            problems.append(f"hyperparameter {name!r} is longer than {MAX_HYPERPARAMETER_LENGTH} characters")
    return problems
