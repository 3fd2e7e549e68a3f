"""Data stack: key, buckets, topic, SageMaker execution role, deployed-model parameter, regional DLC images.

Assertions on the template synthesized once per session (tests/conftest.py: cdk_app, cdk_app_variant).
"""

from __future__ import annotations

import pytest

from stacks.images import regional_images
from tests.support.cdk_app import as_list, flatten, policy_statements


def _bucket(cdk_app, kind: str) -> tuple[str, dict]:
    buckets = cdk_app.resources("data", "AWS::S3::Bucket")
    matches = [
        (k, v)
        for k, v in buckets.items()
        if flatten(v["Properties"]["BucketName"]).startswith(f"textclf-{kind}-")
    ]
    assert len(matches) == 1, f"expected one {kind} bucket"
    return matches[0]


def test_three_buckets_all_retained_versioned_private(cdk_app):
    buckets = cdk_app.resources("data", "AWS::S3::Bucket")
    assert len(buckets) == 3
    for bucket in buckets.values():
        assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
        props = bucket["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
            ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
        )
        assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        (rule,) = props["LifecycleConfiguration"]["Rules"]
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
        assert rule["Status"] == "Enabled"


@pytest.mark.parametrize(("kind", "log_prefix"), [("datasets", "datasets/"), ("models", "models/")])
def test_data_buckets_use_the_kms_key_and_log_access(cdk_app, kind, log_prefix):
    logs_id, _ = _bucket(cdk_app, "access-logs")
    _, bucket = _bucket(cdk_app, kind)
    props = bucket["Properties"]
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (key_id,) = cdk_app.resources("data", "AWS::KMS::Key")
    assert encryption["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
    }
    assert encryption["BucketKeyEnabled"] is True
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": logs_id},
        "LogFilePrefix": log_prefix,
    }
    # Customer data is never expired: only noncurrent versions are.
    assert "ExpirationInDays" not in props["LifecycleConfiguration"]["Rules"][0]


def test_only_the_datasets_bucket_sends_events_to_eventbridge(cdk_app):
    _, datasets = _bucket(cdk_app, "datasets")
    _, models = _bucket(cdk_app, "models")
    assert datasets["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    assert "NotificationConfiguration" not in models["Properties"]
    assert not cdk_app.resources("data", "Custom::S3BucketNotifications")


def test_access_log_bucket_uses_s3_managed_keys(cdk_app):
    _, logs = _bucket(cdk_app, "access-logs")
    (encryption,) = logs["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_every_bucket_policy_denies_plain_http(cdk_app):
    buckets = cdk_app.resources("data", "AWS::S3::Bucket")
    policies = cdk_app.resources("data", "AWS::S3::BucketPolicy").values()
    covered = set()
    for policy in policies:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                assert statement["Action"] == "s3:*"
                covered.add(policy["Properties"]["Bucket"]["Ref"])
    assert covered == set(buckets)


def test_key_rotates_and_is_retained(cdk_app):
    (key,) = cdk_app.resources("data", "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    principals = {
        flatten(s["Principal"].get("Service", "")) for s in key["Properties"]["KeyPolicy"]["Statement"]
    }
    assert "logs.${AWS::Region}.amazonaws.com" in principals and "cloudwatch.amazonaws.com" in principals


def test_topic_is_encrypted_tls_only_and_email_is_optional(cdk_app, cdk_app_variant):
    (topic,) = cdk_app.resources("data", "AWS::SNS::Topic").values()
    assert "KmsMasterKeyId" in topic["Properties"]
    (policy,) = cdk_app.resources("data", "AWS::SNS::TopicPolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    assert not cdk_app.resources("data", "AWS::SNS::Subscription")
    (subscription,) = cdk_app_variant.resources("data", "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"


def test_deployed_model_parameter_starts_at_none(cdk_app):
    (parameter,) = cdk_app.resources("data", "AWS::SSM::Parameter").values()
    assert parameter["Properties"]["Name"] == "/textclf/deployed-model/model-data-url"
    assert parameter["Properties"]["Value"] == "none"
    assert parameter["Properties"]["Type"] == "String"


def test_image_mapping_holds_the_sdk_uri_for_every_region(cdk_app):
    from sagemaker.core import image_uris

    (mapping,) = cdk_app.templates["data"]["Mappings"].values()
    expected = regional_images("4.49.0", "2.5.1", "py311", "2.6.0", "py312")
    assert set(mapping) == set(expected) and len(mapping) > 20
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1"):
        assert mapping[region]["inferenceUri"] == image_uris.retrieve(
            "huggingface",
            region=region,
            version="4.49.0",
            base_framework_version="pytorch2.6.0",
            py_version="py312",
            instance_type="ml.g4dn.xlarge",
            image_scope="inference",
        )
        assert mapping[region]["trainingUri"].endswith(
            "/huggingface-pytorch-training:2.5.1-transformers4.49.0-gpu-py311-cu124-ubuntu22.04"
        )
    assert mapping["us-east-1"]["inferenceUri"] == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:"
        "2.6.0-transformers4.49.0-gpu-py312-cu124-ubuntu22.04"
    )
    assert mapping["cn-north-1"]["inferenceUri"].split("/")[0].endswith(".amazonaws.com.cn")


def _sagemaker_role_statements(cdk_app) -> list[dict]:
    (role_id,) = cdk_app.resources("data", "AWS::IAM::Role")
    role = cdk_app.templates["data"]["Resources"][role_id]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"
    }
    assert "ManagedPolicyArns" not in role["Properties"]
    return [
        s
        for rid, s in policy_statements(cdk_app.templates["data"])
        if rid.startswith("SageMakerExecutionPolicy")
    ]


def test_sagemaker_role_reaches_only_its_buckets_prefixes(cdk_app):
    statements = _sagemaker_role_statements(cdk_app)
    s3_resources = {
        flatten(resource)
        for s in statements
        for resource in as_list(s["Resource"])
        if any(a.startswith("s3:") for a in as_list(s["Action"]))
    }
    datasets_id, _ = _bucket(cdk_app, "datasets")
    models_id, _ = _bucket(cdk_app, "models")
    assert s3_resources == {
        f"${{{datasets_id}.Arn}}/datasets/*",
        f"${{{datasets_id}.Arn}}",
        f"${{{models_id}.Arn}}/training-jobs/*",
        f"${{{models_id}.Arn}}/checkpoints/*",
        f"${{{models_id}.Arn}}",
    }
    list_conditions = [s["Condition"] for s in statements if s["Action"] == "s3:ListBucket"]
    assert all("s3:prefix" in c["StringLike"] for c in list_conditions) and len(list_conditions) == 2


def test_sagemaker_role_pulls_only_the_two_dlc_repositories_in_the_deploy_region(cdk_app):
    statements = _sagemaker_role_statements(cdk_app)
    (pull,) = [s for s in statements if "ecr:BatchGetImage" in as_list(s["Action"])]
    repositories = sorted(flatten(r) for r in pull["Resource"])
    assert [r.rsplit("/", 1)[1] for r in repositories] == [
        "${Map:DlcImagesMapping90D55EFE:${AWS::Region}:inferenceRepository}",
        "${Map:DlcImagesMapping90D55EFE:${AWS::Region}:trainingRepository}",
    ]
    assert all(r.startswith("arn:${AWS::Partition}:ecr:${AWS::Region}:${Map:") for r in repositories)


def test_sagemaker_role_logs_and_metrics_are_scoped(cdk_app):
    statements = _sagemaker_role_statements(cdk_app)
    (logs,) = [s for s in statements if "logs:PutLogEvents" in as_list(s["Action"])]
    assert sorted(flatten(r).split("log-group:")[1] for r in logs["Resource"]) == [
        "/aws/sagemaker/Endpoints/textclf-endpoint:*",
        "/aws/sagemaker/TrainingJobs:*",
    ]
    (metrics,) = [s for s in statements if s["Action"] == "cloudwatch:PutMetricData"]
    assert metrics["Condition"]["StringLike"]["cloudwatch:namespace"]
    kms_resources = {
        flatten(r)
        for s in statements
        if "kms:Decrypt" in as_list(s["Action"])
        for r in as_list(s["Resource"])
    }
    (key_id,) = cdk_app.resources("data", "AWS::KMS::Key")
    assert kms_resources == {f"${{{key_id}.Arn}}"}
