"""The launcher's pure parts, tested without any AWS mock: request parsing, the dataset check, the
CreateTrainingJob request builder and the deterministic job name."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.lambdas import lambda_module

job_request = lambda_module("launcher", "job_request")
dataset_check = lambda_module("launcher", "dataset_check")
training_job = lambda_module("launcher", "training_job")
launcher_config = lambda_module("launcher", "launcher_config")

BUCKET = "datasets-bucket"
ENVIRONMENT = {
    "AWS_REGION": "eu-west-1",
    "DATASETS_BUCKET": BUCKET,
    "MODELS_BUCKET": "models-bucket",
    "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemaker-execution",
    "TRAINING_IMAGE_URI": "763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-training:"
    "2.5.1-transformers4.49.0-gpu-py311-cu124-ubuntu22.04",
    "TRAINING_SOURCE_S3_URI": "s3://models-bucket/code/sourcedir-abc.tar.gz",
    "KMS_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/1111-2222",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:mlops",
    "NAME_PREFIX": "mlc",
    "TRAINING_INSTANCE_TYPE": "ml.g5.2xlarge",
    "TRAINING_INSTANCE_COUNT": "1",
    "BASE_MODEL_ID": "bert-base-uncased",
    "MAX_RUNTIME_SECONDS": "7200",
    "USE_SPOT_INSTANCES": "false",
    "DEFAULT_HYPERPARAMETERS": json.dumps({"num_train_epochs": 3, "learning_rate": 2e-5}),
}
CONFIG = launcher_config.LauncherConfig.from_environ(ENVIRONMENT)
LOCATION = job_request.DatasetLocation(bucket=BUCKET, dataset="toxic-comments", version="v1")
PREFIX = LOCATION.prefix


def split_files(**sizes):
    return {
        split: dataset_check.SplitFile(split=split, key=f"{PREFIX}{name}", size=size, etag=f"etag-{split}")
        for split, (name, size) in sizes.items()
    }


FILES = split_files(train=("train.csv", 500), validation=("validation.csv", 100), test=("test.csv", 100))


def problems_of(raw, **kwargs):
    with pytest.raises(job_request.InvalidRequest) as raised:
        job_request.parse_options(raw, "manifest.json", **kwargs)
    return raised.value.problems


# --- where the dataset is ------------------------------------------------------------------------------


def test_manifest_key_gives_the_dataset_location():
    location = job_request.location_from_manifest_key(BUCKET, "datasets/toxic-comments/v1/manifest.json")
    assert location == LOCATION
    assert location.prefix == "datasets/toxic-comments/v1/"
    assert location.rejection_key == "datasets/toxic-comments/v1/_rejected.json"


@pytest.mark.parametrize(
    "key",
    [
        "datasets/toxic-comments/manifest.json",
        "datasets/toxic-comments/v1/extra/manifest.json",
        "data/toxic-comments/v1/manifest.json",
    ],
)
def test_manifest_key_outside_the_convention_is_refused(key):
    with pytest.raises(job_request.InvalidRequest, match="does not follow the convention"):
        job_request.location_from_manifest_key(BUCKET, key)


def test_dataset_names_with_unsafe_characters_are_refused():
    with pytest.raises(job_request.InvalidRequest, match="dataset name 'toxic comments'"):
        job_request.location_from_manifest_key(BUCKET, "datasets/toxic comments/v1/manifest.json")


def test_direct_request_names_the_dataset_by_uri_or_by_name():
    by_uri = job_request.location_from_request(
        {"dataset_uri": f"s3://{BUCKET}/datasets/toxic-comments/v1/"}, BUCKET
    )
    by_name = job_request.location_from_request({"dataset": "toxic-comments", "version": "v1"}, BUCKET)
    assert by_uri == by_name == LOCATION


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({}, "must name the data"),
        ({"dataset_uri": "s3://other-bucket/datasets/x/v1/"}, "must be in the datasets bucket"),
        ({"dataset_uri": "https://example.com/x"}, "must be an s3:// URI"),
        ({"dataset_uri": f"s3://{BUCKET}/x/v1/"}, "does not follow the convention"),
        ({"dataset_uri": f"s3://{BUCKET}/datasets/x/v1/", "dataset": "x"}, "not both"),
    ],
)
def test_direct_request_with_a_bad_location_says_what_is_wrong(request_body, message):
    with pytest.raises(job_request.InvalidRequest, match=message):
        job_request.location_from_request(request_body, BUCKET)


# --- manifest / request fields ---------------------------------------------------------------------------


def test_empty_manifest_means_defaults():
    options = job_request.parse_options({}, "manifest.json")
    assert options.text_columns is None and options.label_column is None
    assert options.multi_hot_label_columns is None
    assert options.instance_type is None and options.hyperparameters == {}


def test_manifest_fields_are_parsed():
    options = job_request.parse_options(
        {
            "text_columns": "comment_text",
            "multi_hot_label_columns": ["toxic", "insult", "threat"],
            "hyperparameters": {"num_train_epochs": 5, "fp16": True},
            "instance_type": "ml.p4d.24xlarge",
            "instance_count": 2,
            "base_model": "roberta-base",
            "use_spot_instances": True,
            "max_runtime_seconds": 3600,
            "run_id": "retry-2",
        },
        "manifest.json",
    )
    assert options.text_columns == ("comment_text",)
    assert options.multi_hot_label_columns == ("toxic", "insult", "threat")
    assert options.instance_count == 2 and options.use_spot_instances is True
    assert options.run_id == "retry-2"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "manifest.json must be a JSON object"),
        ({"text_column": "x"}, "unknown field(s) ['text_column']"),
        ({"text_columns": []}, "text_columns must be a column name or a non-empty list"),
        (
            {"multi_hot_label_columns": ["a", "a"]},
            "multi_hot_label_columns must be a column name or a non-empty list of unique",
        ),
        ({"label_column": ""}, "label_column must be a column name"),
        (
            {"label_column": "a", "multi_hot_label_columns": ["b"]},
            "set label_column or multi_hot_label_columns",
        ),
        ({"text_columns": ["a"], "label_column": "a"}, "text_columns and the label columns overlap: ['a']"),
        ({"instance_type": "p3.2xlarge"}, "instance_type must be a SageMaker training instance type"),
        ({"instance_count": 0}, "instance_count must be an integer from 1 to 32"),
        ({"instance_count": True}, "instance_count must be an integer"),
        ({"use_spot_instances": "yes"}, "use_spot_instances must be true or false"),
        ({"max_runtime_seconds": 10}, "max_runtime_seconds must be an integer number of seconds from 60"),
        ({"base_model": ""}, "base_model must be a Hugging Face model id"),
        ({"run_id": "has space"}, "run_id must be 1-64 letters"),
        ({"label_names_file": "../labels.txt"}, "label_names_file must be a file name next to the data"),
        ({"hyperparameters": [1]}, "hyperparameters must be a JSON object"),
        ({"hyperparameters": {"sagemaker_program": "x.py"}}, "'sagemaker_program' is reserved"),
        (
            {"hyperparameters": {"epochs": None}},
            "hyperparameter 'epochs' must be a string, number or boolean",
        ),
        ({"hyperparameters": {"bad name": 1}}, "hyperparameter name 'bad name'"),
        ({"hyperparameters": {"long": "x" * 2600}}, "hyperparameter 'long' is longer than 2500"),
        ({"instance_count": 2, "distributed": False}, "distributed is false but instance_count > 1"),
    ],
)
def test_each_bad_field_is_named(raw, message):
    assert any(message in problem for problem in problems_of(raw)), problems_of(raw)


def test_all_bad_fields_are_reported_at_once():
    problems = problems_of({"instance_count": -1, "use_spot_instances": 1, "colour": "blue"})
    assert len(problems) == 3


def test_direct_request_overrides_the_manifest_field_by_field():
    manifest = {"label_column": "labels", "hyperparameters": {"num_train_epochs": 3, "seed": 1}}
    request = {
        "dataset": "x",
        "version": "v1",
        "hyperparameters": {"num_train_epochs": 1},
        "instance_count": 2,
    }
    merged = job_request.merge_request_into_manifest(manifest, request)
    assert merged == {
        "label_column": "labels",
        "hyperparameters": {"num_train_epochs": 1, "seed": 1},
        "instance_count": 2,
    }


# --- the dataset check -----------------------------------------------------------------------------------


def listed(*names_and_sizes):
    return [
        dataset_check.DataObject(f"{PREFIX}{name}", size, f"etag-{name}") for name, size in names_and_sizes
    ]


def test_split_files_are_found_by_name():
    objects = listed(("train.csv", 10), ("validation.jsonl", 10), ("manifest.json", 2), ("notes.txt", 3))
    files, problems = dataset_check.select_split_files(objects, PREFIX)
    assert problems == []
    assert {split: f.file_name for split, f in files.items()} == {
        "train": "train.csv",
        "validation": "validation.jsonl",
    }
    assert files["validation"].format == "json"
    assert dataset_check.ignored_objects(objects, PREFIX, files) == ["notes.txt"]


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        (listed(("validation.csv", 10)), "train: no train.csv, train.tsv, train.json or train.jsonl"),
        (listed(("train.csv", 10)), "validation: no validation.csv"),
        (listed(("train.csv", 10), ("train.tsv", 10), ("validation.csv", 5)), "train: several files"),
        (listed(("train.csv", 0), ("validation.csv", 5)), "train: train.csv is empty (0 bytes)"),
        (
            listed(("train.csv", 10), ("train.csv.bak", 10), ("validation.csv", 5)),
            "['train.csv.bak'] start with 'train.csv'",
        ),
        (listed(("sub/train.csv", 10), ("validation.csv", 5)), "train: no train.csv"),
    ],
)
def test_missing_duplicate_empty_or_shadowed_files_are_problems(objects, message):
    _, problems = dataset_check.select_split_files(objects, PREFIX)
    assert any(message in p for p in problems), problems


def test_label_names_file_must_exist_and_not_be_empty():
    objects = listed(("train.csv", 10), ("validation.csv", 5), ("labels.txt", 0))
    _, problems = dataset_check.select_split_files(objects, PREFIX, "labels.txt")
    assert problems == ["label_names_file 'labels.txt' is empty (0 bytes)"]
    _, problems = dataset_check.select_split_files(objects, PREFIX, "names.txt")
    assert problems == [f"label_names_file 'names.txt' not found under {PREFIX}"]


def check_columns(name, content: bytes, columns=(("text",), ("toxic",)), size=None):
    split_file = dataset_check.SplitFile(
        "train", f"{PREFIX}{name}", len(content) if size is None else size, "e"
    )
    return dataset_check.column_problems(split_file, content[: dataset_check.HEAD_BYTES], list(columns))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("train.csv", b"id,text,toxic\n1,hello,0\n"),
        ("train.csv", b'\xef\xbb\xbf"text","toxic"\r\n"hi, there",1\r\n'),
        ("train.tsv", b"text\ttoxic\nhello\t0\n"),
        ("train.jsonl", b'{"text": "hello", "toxic": 0}\n{"text": "bye", "toxic": 1}\n'),
        ("train.json", b'{"text": "hello", "toxic": 0}'),
    ],
)
def test_good_headers_pass(name, content):
    assert check_columns(name, content) == []


def test_missing_columns_are_named_with_the_columns_found():
    assert check_columns("train.csv", b"comment,toxic\nhi,0\n") == [
        "train: train.csv: missing column(s) ['text']; found ['comment', 'toxic']"
    ]


def test_columns_required_follow_train_py_defaults_unless_named():
    assert dataset_check.required_columns(None, None, None) == [("text", "sentence"), ("label", "labels")]
    assert dataset_check.required_columns(("title", "body"), "tags", None) == [
        ("title",),
        ("body",),
        ("tags",),
    ]
    assert dataset_check.required_columns(None, None, ("toxic", "insult")) == [
        ("text", "sentence"),
        ("toxic",),
        ("insult",),
    ]


def test_default_columns_can_be_any_of_train_py_names():
    defaults = dataset_check.required_columns(None, None, None)
    assert check_columns("train.csv", b"sentence,label\nhi,toxic\n", defaults) == []
    assert check_columns("train.csv", b"comment,tags\nhi,toxic\n", defaults) == [
        "train: train.csv: no column named text or sentence (name the columns in the manifest); "
        "found ['comment', 'tags']",
        "train: train.csv: no column named label or labels (name the columns in the manifest); "
        "found ['comment', 'tags']",
    ]


def test_header_without_rows_is_a_problem():
    assert check_columns("train.csv", b"text,toxic\n") == ["train: train.csv: has a header but no data rows"]


def test_a_large_file_is_judged_from_its_first_64_kib():
    content = b"text,toxic\n" + b"some text,0\n" * 20000
    assert len(content) > dataset_check.HEAD_BYTES
    assert check_columns("train.csv", content) == []


def test_a_header_longer_than_64_kib_is_reported_not_guessed():
    content = b"x" * 70000 + b"\n"
    [problem] = check_columns("train.csv", content)
    assert "no line break in the first 65536 bytes" in problem


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'[{"text": "a", "toxic": 0}]', "is a JSON array; write one JSON object per line"),
        (b"not json\n", "the first line is not a JSON object"),
        (b"[1, 2]\n", "is a JSON array"),
        (b'"text"\n', "the first line is a JSON str, expected an object"),
    ],
)
def test_unreadable_json_lines_are_explained(content, message):
    [problem] = check_columns("train.jsonl", content)
    assert message in problem


def test_range_header_asks_for_exactly_64_kib():
    assert dataset_check.HEAD_RANGE == "bytes=0-65535"


def test_label_names_are_one_per_line():
    assert dataset_check.parse_label_names(b"toxic\ninsult\n\nthreat\n", "labels.txt") == (
        ["toxic", "insult", "threat"],
        [],
    )
    _, problems = dataset_check.parse_label_names(b"toxic\ntoxic\n", "labels.txt")
    assert problems == ["label_names_file 'labels.txt' repeats ['toxic']"]


# --- the CreateTrainingJob request -----------------------------------------------------------------------


def build(options=None, files=FILES, name="job-1"):
    job = training_job.resolve_job(options or job_request.JobOptions(), CONFIG)
    return training_job.build_create_training_job_request(CONFIG, LOCATION, files, job, name)


def test_hyperparameters_are_json_encoded_like_the_sagemaker_sdk():
    """`EstimatorBase._json_encode_hyperparameters`: json.dumps of every value, strings included."""
    assert training_job.encode_hyperparameters({"a": "train.py", "b": 20, "c": 2e-5, "d": True}) == {
        "a": '"train.py"',
        "b": "20",
        "c": "2e-05",
        "d": "true",
    }


def test_request_is_script_mode_on_the_training_image():
    request = build()
    assert request["AlgorithmSpecification"] == {
        "TrainingImage": ENVIRONMENT["TRAINING_IMAGE_URI"],
        "TrainingInputMode": "File",
        "MetricDefinitions": training_job.metric_definitions(),
        "EnableSageMakerMetricsTimeSeries": True,
    }
    decoded = {name: json.loads(value) for name, value in request["HyperParameters"].items()}
    assert decoded == {
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": "s3://models-bucket/code/sourcedir-abc.tar.gz",
        "sagemaker_container_log_level": 20,
        "sagemaker_job_name": "job-1",
        "sagemaker_region": "eu-west-1",
        "model_name_or_path": "bert-base-uncased",
        "train_file": "/opt/ml/input/data/train/train.csv",
        "validation_file": "/opt/ml/input/data/validation/validation.csv",
        "test_file": "/opt/ml/input/data/test/test.csv",
        "output_dir": "/opt/ml/model",
        "num_train_epochs": 3,
        "learning_rate": 2e-5,
    }
    assert all(isinstance(value, str) for value in request["HyperParameters"].values())


def test_channels_point_at_the_exact_files():
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in build()["InputDataConfig"]}
    assert channels == {
        split: {
            "S3DataType": "S3Prefix",
            "S3Uri": f"s3://{BUCKET}/{PREFIX}{split}.csv",
            "S3DataDistributionType": "FullyReplicated",
        }
        for split in ("train", "validation", "test")
    }


def test_output_goes_to_the_models_bucket_encrypted_with_the_stack_key():
    request = build()
    assert request["OutputDataConfig"] == {
        "S3OutputPath": "s3://models-bucket/training-jobs/",
        "KmsKeyId": ENVIRONMENT["KMS_KEY_ARN"],
    }
    assert request["RoleArn"] == ENVIRONMENT["SAGEMAKER_ROLE_ARN"]
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    assert "EnableManagedSpotTraining" not in request and "CheckpointConfig" not in request


def test_volume_key_only_where_sagemaker_accepts_one():
    """Instance types with local NVMe storage (g5, g4dn, p4d...) refuse VolumeKmsKeyId; EBS types get it."""
    nvme = build()["ResourceConfig"]
    assert nvme == {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    ebs = build(job_request.JobOptions(instance_type="ml.p3.2xlarge"))["ResourceConfig"]
    assert ebs["VolumeKmsKeyId"] == ENVIRONMENT["KMS_KEY_ARN"]


def test_managed_spot_training_checkpoints_to_s3():
    request = build(job_request.JobOptions(use_spot_instances=True), name="job-spot")
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200, "MaxWaitTimeInSeconds": 14400}
    assert request["CheckpointConfig"] == {
        "S3Uri": "s3://models-bucket/checkpoints/job-spot/",
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert json.loads(request["HyperParameters"]["checkpoint_dir"]) == "/opt/ml/checkpoints"


def test_multi_instance_jobs_use_torch_distributed_like_the_sdk():
    request = build(job_request.JobOptions(instance_count=2, instance_type="ml.p4d.24xlarge"))
    assert request["HyperParameters"]["sagemaker_torch_distributed_enabled"] == "true"
    assert request["HyperParameters"]["sagemaker_instance_type"] == '"ml.p4d.24xlarge"'
    assert request["ResourceConfig"]["InstanceCount"] == 2
    assert request["EnableInterContainerTrafficEncryption"] is True
    single = build()
    assert "sagemaker_torch_distributed_enabled" not in single["HyperParameters"]
    multi_gpu = build(job_request.JobOptions(distributed=True, instance_type="ml.g5.12xlarge"))
    assert multi_gpu["HyperParameters"]["sagemaker_torch_distributed_enabled"] == "true"


def test_base_model_from_s3_becomes_a_channel():
    request = build(job_request.JobOptions(base_model="s3://models-bucket/base/minilm/"))
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]
    }
    assert channels["model"] == "s3://models-bucket/base/minilm/"
    assert json.loads(request["HyperParameters"]["model_name_or_path"]) == "/opt/ml/input/data/model"


def test_label_names_file_becomes_a_channel():
    request = build(job_request.JobOptions(label_names_file="labels.txt"))
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]
    }
    assert channels["label_names"] == f"s3://{BUCKET}/{PREFIX}labels.txt"
    assert (
        json.loads(request["HyperParameters"]["label_names_file"])
        == "/opt/ml/input/data/label_names/labels.txt"
    )


def test_named_columns_become_train_py_arguments():
    options = job_request.JobOptions(
        text_columns=("title", "body"), multi_hot_label_columns=("toxic", "insult")
    )
    decoded = {k: json.loads(v) for k, v in build(options)["HyperParameters"].items()}
    assert decoded["text_column_names"] == "title,body"
    assert decoded["multi_hot_label_columns"] == "toxic,insult"
    assert "label_column_name" not in decoded
    decoded = {
        k: json.loads(v)
        for k, v in build(job_request.JobOptions(label_column="tags"))["HyperParameters"].items()
    }
    assert decoded["label_column_name"] == "tags"


def test_request_options_override_stack_defaults():
    options = job_request.JobOptions(hyperparameters={"num_train_epochs": 1}, base_model="roberta-base")
    decoded = {k: json.loads(v) for k, v in build(options)["HyperParameters"].items()}
    assert decoded["num_train_epochs"] == 1 and decoded["learning_rate"] == 2e-5
    assert decoded["model_name_or_path"] == "roberta-base"


def test_launcher_owned_hyperparameters_cannot_be_overridden():
    with pytest.raises(
        job_request.InvalidRequest, match=r"\['output_dir', 'train_file'\] are set by the launcher"
    ):
        training_job.resolve_job(
            job_request.JobOptions(hyperparameters={"train_file": "x", "output_dir": "y"}), CONFIG
        )


def test_metric_definitions_read_name_value_lines():
    definitions = {d["Name"]: re.compile(d["Regex"]) for d in training_job.metric_definitions()}
    assert definitions["eval_f1_macro"].search("eval_f1_macro=0.5312").group(1) == "0.5312"
    assert definitions["eval_loss"].search("[rank0]: eval_loss=1.2e-03").group(1) == "1.2e-03"
    assert definitions["eval_f1_macro"].search("test_eval_f1_macro=0.1") is None
    assert len(definitions) <= 40  # SageMaker's limit


# --- the deterministic job name --------------------------------------------------------------------------


def job_name(trigger="upload:v1", files=FILES, options=None):
    job = training_job.resolve_job(options or job_request.JobOptions(), CONFIG)
    return training_job.training_job_name("mlc", LOCATION, trigger, files, job)


def test_job_name_is_deterministic_and_valid():
    name = job_name()
    assert name == job_name()
    assert name.startswith("mlc-toxic-comments-v1-")
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)


def test_job_name_changes_with_the_upload_the_data_or_the_settings():
    other_data = dict(FILES, train=dataset_check.SplitFile("train", f"{PREFIX}train.csv", 500, "changed"))
    names = {
        job_name(),
        job_name(trigger="upload:v2"),
        job_name(files=other_data),
        job_name(options=job_request.JobOptions(hyperparameters={"seed": 7})),
        job_name(options=job_request.JobOptions(run_id="again")),
    }
    assert len(names) == 5


def test_long_dataset_names_still_give_a_valid_job_name():
    location = job_request.DatasetLocation(BUCKET, "d" * 64, "v" * 64)
    job = training_job.resolve_job(job_request.JobOptions(), CONFIG)
    name = training_job.training_job_name("a-long-prefix", location, "t", FILES, job)
    assert len(name) <= 63
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)
