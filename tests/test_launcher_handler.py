"""The launcher Lambda end to end against moto (S3, SageMaker, SNS + an SQS inbox): dataset upload events and
direct job requests -> exactly one training job, or a rejection that names the problem and starts nothing.

moto implements every call the launcher makes (ListObjectsV2, ranged GetObject, PutObject, Describe/Create
TrainingJob, Publish). Two gaps are covered differently: moto replaces a job's MetricDefinitions with its own,
so the request actually sent is recorded with a botocore hook; and moto's CreateTrainingJob never answers
ResourceInUse (it overwrites), so that race is played with botocore's Stubber.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from tests.support.aws import REGION, SnsInbox, fake_credentials, record_requests, serve_handler_from
from tests.support.lambdas import REPO_ROOT, lambda_module

handler = lambda_module("launcher")
launcher_config = lambda_module("launcher", "launcher_config")
training_job = lambda_module("launcher", "training_job")
aws_plumbing = lambda_module("launcher", "mlops_common.aws")
BOTO3_CLIENTS = handler._clients

DATASETS_BUCKET = "mlc-datasets"
MODELS_BUCKET = "mlc-models"
PREFIX = "datasets/toxic/v1/"
TRAIN_CSV = b"text,toxic,insult\nyou are an idiot,1,1\nthanks for the article,0,0\n"
VALIDATION_CSV = b"text,toxic,insult\nwhat a moron,1,1\nnice work,0,0\n"
MANIFEST = {
    "text_columns": ["text"],
    "multi_hot_label_columns": ["toxic", "insult"],
    "hyperparameters": {"seed": 7},
}


@pytest.fixture
def aws(monkeypatch):
    fake_credentials(monkeypatch)
    with mock_aws():
        clients = {name: boto3.client(name, region_name=REGION) for name in ("s3", "sagemaker", "sns", "sqs")}
        for bucket in (DATASETS_BUCKET, MODELS_BUCKET):
            clients["s3"].create_bucket(Bucket=bucket)
        clients["s3"].put_bucket_versioning(
            Bucket=DATASETS_BUCKET, VersioningConfiguration={"Status": "Enabled"}
        )
        topic_arn = clients["sns"].create_topic(Name="mlops")["TopicArn"]
        environment = {
            "AWS_REGION": REGION,
            "DATASETS_BUCKET": DATASETS_BUCKET,
            "MODELS_BUCKET": MODELS_BUCKET,
            "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemaker-execution",
            "TRAINING_IMAGE_URI": "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-training:"
            "2.5.1-transformers4.49.0-gpu-py311-cu124-ubuntu22.04",
            "TRAINING_SOURCE_S3_URI": f"s3://{MODELS_BUCKET}/code/sourcedir.tar.gz",
            "KMS_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/abcd",
            "NOTIFICATION_TOPIC_ARN": topic_arn,
            "NAME_PREFIX": "mlc",
            "TRAINING_INSTANCE_TYPE": "ml.g5.2xlarge",
            "TRAINING_INSTANCE_COUNT": "1",
            "BASE_MODEL_ID": "bert-base-uncased",
            "MAX_RUNTIME_SECONDS": "7200",
            "USE_SPOT_INSTANCES": "false",
            "DEFAULT_HYPERPARAMETERS": '{"num_train_epochs": 3}',
        }
        serve_handler_from(monkeypatch, handler, clients, environment)
        yield type(
            "Aws",
            (),
            {
                "clients": clients,
                "config": launcher_config.LauncherConfig.from_environ(environment),
                "inbox": SnsInbox(clients["sns"], clients["sqs"], topic_arn),
                "created": record_requests(clients["sagemaker"], "CreateTrainingJob"),
                "reads": record_requests(clients["s3"], "GetObject"),
            },
        )


def upload(aws, files: dict[str, bytes], manifest: dict | bytes | None = MANIFEST, prefix=PREFIX) -> dict:
    """Upload data files, then the manifest; return the EventBridge event S3 sends for the manifest."""
    for name, body in files.items():
        aws.clients["s3"].put_object(Bucket=DATASETS_BUCKET, Key=prefix + name, Body=body)
    body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    put = aws.clients["s3"].put_object(Bucket=DATASETS_BUCKET, Key=prefix + "manifest.json", Body=body)
    return object_created_event(prefix + "manifest.json", put["ETag"].strip('"'), put.get("VersionId"))


def object_created_event(key, etag="e", version_id="1", bucket=DATASETS_BUCKET):
    return {
        "version": "0",
        "id": "7d4c2b0e-1111-2222-3333-444455556666",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2025-01-01T00:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 10, "etag": etag, "version-id": version_id, "sequencer": "00AB"},
            "request-id": "R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }


def training_jobs(aws):
    return aws.clients["sagemaker"].list_training_jobs()["TrainingJobSummaries"]


def data_snapshot(aws, prefix=PREFIX):
    """Bytes and ETag of every object except the rejection record: proof the data was not touched."""
    s3 = aws.clients["s3"]
    listed = s3.list_objects_v2(Bucket=DATASETS_BUCKET, Prefix=prefix).get("Contents", [])
    return {
        o["Key"]: (o["ETag"], s3.get_object(Bucket=DATASETS_BUCKET, Key=o["Key"])["Body"].read())
        for o in listed
        if not o["Key"].endswith("_rejected.json")
    }


def rejection_record(aws, prefix=PREFIX):
    body = aws.clients["s3"].get_object(Bucket=DATASETS_BUCKET, Key=prefix + "_rejected.json")["Body"].read()
    return json.loads(body)


def test_manifest_upload_starts_exactly_one_training_job(aws):
    event = upload(
        aws, {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV, "test.csv": VALIDATION_CSV}
    )

    result = handler.lambda_handler(event, None)

    assert result["status"] == "started"
    [summary] = training_jobs(aws)
    assert summary["TrainingJobName"] == result["training_job_name"]
    job = aws.clients["sagemaker"].describe_training_job(TrainingJobName=result["training_job_name"])
    assert job["AlgorithmSpecification"]["TrainingImage"] == aws.config.training_image_uri
    assert {k: json.loads(v) for k, v in job["HyperParameters"].items()} == {
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": f"s3://{MODELS_BUCKET}/code/sourcedir.tar.gz",
        "sagemaker_container_log_level": 20,
        "sagemaker_job_name": result["training_job_name"],
        "sagemaker_region": REGION,
        "model_name_or_path": "bert-base-uncased",
        "train_file": "/opt/ml/input/data/train/train.csv",
        "validation_file": "/opt/ml/input/data/validation/validation.csv",
        "test_file": "/opt/ml/input/data/test/test.csv",
        "text_column_names": "text",
        "multi_hot_label_columns": "toxic,insult",
        "output_dir": "/opt/ml/model",
        "num_train_epochs": 3,
        "seed": 7,
    }
    assert {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]} == {
        split: f"s3://{DATASETS_BUCKET}/{PREFIX}{split}.csv" for split in ("train", "validation", "test")
    }
    assert job["OutputDataConfig"] == {
        "S3OutputPath": f"s3://{MODELS_BUCKET}/training-jobs/",
        "KmsKeyId": aws.config.kms_key_arn,
    }
    assert job["ResourceConfig"] == {
        "InstanceType": "ml.g5.2xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
    }
    [sent] = aws.created
    assert sent["AlgorithmSpecification"]["MetricDefinitions"] == training_job.metric_definitions()
    [notification] = aws.inbox.messages()
    assert notification["subject"] == f"Training started: {result['training_job_name']}"
    assert notification["details"]["training_job_name"] == result["training_job_name"]


def test_lambda_handler_builds_its_own_clients(aws, monkeypatch):
    monkeypatch.setattr(handler, "_clients", BOTO3_CLIENTS)
    aws_plumbing.aws_clients.cache_clear()  # clients made inside this test's moto
    event = upload(aws, {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV})
    try:
        assert handler.lambda_handler(event, None)["status"] == "started"
        assert handler._clients(REGION) is handler._clients(REGION)  # reused across invocations
    finally:
        aws_plumbing.aws_clients.cache_clear()
    assert len(training_jobs(aws)) == 1


def test_data_files_are_read_with_ranged_gets_only(aws):
    big_train = b"text,toxic,insult\n" + b"a long enough comment,0,1\n" * 10000
    event = upload(aws, {"train.csv": big_train, "validation.csv": VALIDATION_CSV})

    assert handler.lambda_handler(event, None)["status"] == "started"

    data_reads = [r for r in aws.reads if not r["Key"].endswith("manifest.json")]
    assert {r["Key"] for r in data_reads} == {PREFIX + "train.csv", PREFIX + "validation.csv"}
    assert all(r["Range"] == "bytes=0-65535" for r in data_reads)


def test_redelivered_event_reports_the_existing_job_and_starts_no_second(aws):
    event = upload(aws, {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV})
    first = handler.lambda_handler(event, None)

    second = handler.lambda_handler(event, None)

    assert second["status"] == "exists"
    assert second["training_job_name"] == first["training_job_name"]
    assert "run_id" in second["message"]
    assert len(training_jobs(aws)) == 1
    assert len(aws.created) == 1
    assert len(aws.inbox.messages()) == 1  # only the first start was announced


def test_a_new_manifest_upload_starts_a_new_job(aws):
    handler.lambda_handler(upload(aws, {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV}), None)
    again = upload(aws, {}, manifest={**MANIFEST, "hyperparameters": {"seed": 8}})

    assert handler.lambda_handler(again, None)["status"] == "started"
    assert len(training_jobs(aws)) == 2


def test_concurrent_delivery_that_loses_the_race_reports_the_winner(aws):
    """Stubber: moto's CreateTrainingJob never answers ResourceInUse, real SageMaker does."""
    upload(aws, {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV})
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    clients = dict(aws.clients, sagemaker=sagemaker)
    job_arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/x"
    with Stubber(sagemaker) as stub:
        stub.add_client_error("describe_training_job", "ValidationException", "Requested resource not found.")
        stub.add_client_error("create_training_job", "ResourceInUse", "Training job already exists")
        stub.add_response(
            "describe_training_job",
            {
                "TrainingJobName": "winner",
                "TrainingJobArn": job_arn,
                "TrainingJobStatus": "InProgress",
                "SecondaryStatus": "Starting",
                "AlgorithmSpecification": {"TrainingInputMode": "File"},
                "ModelArtifacts": {"S3ModelArtifacts": ""},
                "ResourceConfig": {"VolumeSizeInGB": 30},
                "StoppingCondition": {},
                "CreationTime": "2025-01-01T00:00:00Z",
            },
        )
        result = handler.handle(upload(aws, {}), aws.config, clients)
        stub.assert_no_pending_responses()
    assert result == {
        "status": "exists",
        "training_job_name": "winner",
        "training_job_arn": job_arn,
        "training_job_status": "InProgress",
        "message": result["message"],
    }


def test_sagemaker_refusal_is_reported_to_the_uploader(aws):
    """Stubber: a quota error (ResourceLimitExceeded) cannot be produced by moto."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with Stubber(sagemaker) as stub:
        stub.add_client_error("describe_training_job", "ValidationException", "Requested resource not found.")
        stub.add_client_error(
            "create_training_job",
            "ResourceLimitExceeded",
            "The account-level service limit 'ml.g5.2xlarge'...",
        )
        event = upload(aws, {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV})
        result = handler.handle(event, aws.config, dict(aws.clients, sagemaker=sagemaker))
    assert result["status"] == "rejected"
    assert "SageMaker refused the training job: The account-level service limit" in result["problems"][0]
    assert rejection_record(aws)["problems"] == result["problems"]


@pytest.mark.parametrize(
    ("files", "manifest", "problem"),
    [
        ({"train.csv": TRAIN_CSV}, MANIFEST, "validation: no validation.csv"),
        (
            {"train.csv": b"", "validation.csv": VALIDATION_CSV},
            MANIFEST,
            "train: train.csv is empty (0 bytes)",
        ),
        (
            {"train.csv": b"comment,toxic,insult\nhi,0,0\n", "validation.csv": VALIDATION_CSV},
            MANIFEST,
            "train: train.csv: missing column(s) ['text']; found ['comment', 'toxic', 'insult']",
        ),
        (
            {"train.csv": TRAIN_CSV, "validation.csv": b"text,toxic\nhi,0\n"},
            MANIFEST,
            "validation: validation.csv: missing column(s) ['insult']",
        ),
        (
            {"train.csv": b"text,toxic,insult\n", "validation.csv": VALIDATION_CSV},
            MANIFEST,
            "train: train.csv: has a header but no data rows",
        ),
        (
            {"train.jsonl": b'[{"text": "a"}]', "validation.csv": VALIDATION_CSV},
            MANIFEST,
            "is a JSON array; write one JSON object per line",
        ),
        (
            {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV},
            {**MANIFEST, "label_names_file": "labels.txt"},
            "label_names_file 'labels.txt' not found",
        ),
        (
            {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV, "labels.txt": b"toxic\ntoxic\n"},
            {**MANIFEST, "label_names_file": "labels.txt"},
            "label_names_file 'labels.txt' repeats ['toxic']",
        ),
        (
            {"train.csv": TRAIN_CSV, "train.csv.old": TRAIN_CSV, "validation.csv": VALIDATION_CSV},
            MANIFEST,
            "['train.csv.old'] start with 'train.csv'",
        ),
        (
            {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV},
            b"{not json",
            "manifest.json is not valid JSON",
        ),
        (
            {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV},
            {"label_columns": "toxic"},
            "unknown field(s) ['label_columns']",
        ),
        (
            {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV},
            {**MANIFEST, "instance_count": 0},
            "instance_count must be an integer from 1 to 32",
        ),
        (
            {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV},
            {**MANIFEST, "hyperparameters": {"output_dir": "/tmp"}},
            "['output_dir'] are set by the launcher",
        ),
    ],
)
def test_bad_dataset_is_rejected_with_its_reason_and_no_job(aws, files, manifest, problem):
    event = upload(aws, files, manifest=manifest)
    before = data_snapshot(aws)

    result = handler.lambda_handler(event, None)

    assert result["status"] == "rejected"
    assert any(problem in p for p in result["problems"]), result["problems"]
    assert training_jobs(aws) == [] and aws.created == []
    record = rejection_record(aws)
    assert record["problems"] == result["problems"]
    assert record["dataset"] == f"s3://{DATASETS_BUCKET}/{PREFIX}"
    assert data_snapshot(aws) == before  # data files neither changed nor deleted
    [notification] = aws.inbox.messages()
    assert notification["subject"] == f"Dataset rejected: s3://{DATASETS_BUCKET}/{PREFIX}"
    assert notification["details"]["problems"] == result["problems"]


def test_manifest_outside_the_convention_is_rejected_next_to_it(aws):
    event = upload(aws, {"train.csv": TRAIN_CSV}, prefix="datasets/toxic/")

    result = handler.lambda_handler(event, None)

    assert result["status"] == "rejected"
    assert (
        "does not follow the convention datasets/<dataset>/<version>/manifest.json" in result["problems"][0]
    )
    assert rejection_record(aws, prefix="datasets/toxic/")["problems"] == result["problems"]
    assert training_jobs(aws) == []


@pytest.mark.parametrize(
    "event",
    [
        object_created_event(PREFIX + "train.csv"),
        object_created_event(PREFIX + "manifest.json", bucket="someone-elses-bucket"),
        {"source": "aws.sagemaker", "detail-type": "SageMaker Training Job State Change", "detail": {}},
    ],
)
def test_unrelated_events_are_ignored(aws, event):
    assert handler.lambda_handler(event, None)["status"] == "ignored"
    assert training_jobs(aws) == [] and aws.inbox.messages() == []


def test_direct_request_starts_a_job_with_overrides_over_the_manifest(aws):
    upload(aws, {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV})
    request = {
        "dataset": "toxic",
        "version": "v1",
        "hyperparameters": {"num_train_epochs": 1},
        "instance_type": "ml.p3.2xlarge",
    }

    result = handler.lambda_handler(request, None)

    assert result["status"] == "started"
    job = aws.clients["sagemaker"].describe_training_job(TrainingJobName=result["training_job_name"])
    hyperparameters = {k: json.loads(v) for k, v in job["HyperParameters"].items()}
    assert hyperparameters["num_train_epochs"] == 1 and hyperparameters["seed"] == 7
    assert hyperparameters["multi_hot_label_columns"] == "toxic,insult"  # from the manifest
    assert job["ResourceConfig"]["VolumeKmsKeyId"] == aws.config.kms_key_arn  # p3 has EBS volumes
    assert handler.lambda_handler(request, None)["status"] == "exists"
    assert handler.lambda_handler({**request, "run_id": "2"}, None)["status"] == "started"
    assert len(training_jobs(aws)) == 2


def test_direct_request_without_a_manifest_uses_defaults(aws):
    for name in ("train.csv", "validation.csv"):
        aws.clients["s3"].put_object(
            Bucket=DATASETS_BUCKET, Key=PREFIX + name, Body=b"text,labels\nhi,toxic\n"
        )

    result = handler.lambda_handler({"dataset_uri": f"s3://{DATASETS_BUCKET}/{PREFIX}"}, None)

    assert result["status"] == "started"


@pytest.mark.parametrize(
    ("request_body", "error"),
    [
        ({"dataset": "toxic"}, "must name the data: dataset_uri, or dataset and version"),
        ({"dataset": "toxic", "version": "v1", "instance_count": "two"}, "instance_count must be an integer"),
        ({"dataset": "toxic", "version": "v1", "epochs": 3}, "unknown field(s) ['epochs']"),
        (
            {"dataset_uri": "s3://elsewhere/datasets/toxic/v1/"},
            "must be in the datasets bucket 'mlc-datasets'",
        ),
    ],
)
def test_bad_direct_request_gets_its_message_and_no_job(aws, request_body, error):
    upload(aws, {"train.csv": TRAIN_CSV, "validation.csv": VALIDATION_CSV})
    before = data_snapshot(aws)

    result = handler.lambda_handler(request_body, None)

    assert result["status"] == "invalid_request"
    assert any(error in e for e in result["errors"]), result["errors"]
    assert training_jobs(aws) == []
    assert data_snapshot(aws) == before
    assert "Contents" not in aws.clients["s3"].list_objects_v2(
        Bucket=DATASETS_BUCKET, Prefix=PREFIX + "_rejected"
    )


def test_bad_data_named_by_a_direct_request_is_rejected_like_an_upload(aws):
    aws.clients["s3"].put_object(Bucket=DATASETS_BUCKET, Key=PREFIX + "train.csv", Body=TRAIN_CSV)

    result = handler.lambda_handler({"dataset": "toxic", "version": "v1"}, None)

    assert result["status"] == "rejected"
    assert rejection_record(aws)["source"] == "job request"
    assert training_jobs(aws) == []


def test_the_shipped_moderation_dataset_is_accepted_as_the_readme_uploads_it(aws):
    """README "MLOps flow" step 2, on the dataset the project ships."""
    shipped = REPO_ROOT / "examples" / "data" / "moderation"
    files = {path.name: path.read_bytes() for path in sorted(shipped.iterdir()) if path.is_file()}
    event = upload(aws, files, manifest={"label_column": "labels", "label_names_file": "labels.txt"})

    result = handler.lambda_handler(event, None)

    assert result["status"] == "started", result
    job = aws.clients["sagemaker"].describe_training_job(TrainingJobName=result["training_job_name"])
    hyperparameters = {k: json.loads(v) for k, v in job["HyperParameters"].items()}
    assert hyperparameters["label_column_name"] == "labels"
    assert hyperparameters["label_names_file"] == "/opt/ml/input/data/label_names/labels.txt"
    assert {c["ChannelName"] for c in job["InputDataConfig"]} == {
        "train",
        "validation",
        "test",
        "label_names",
    }
