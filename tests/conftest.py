"""Shared fixtures. Everything here is offline: HF_HUB_OFFLINE is forced before transformers is imported."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest

from tests.support.models import build_tiny_bert

TINY_LABELS = ["toxic", "insult", "threat", "obscene", "identity_hate", "benign"]


@pytest.fixture(scope="session")
def tiny_bert_encoder_dir(tmp_path_factory):
    """A tiny random BERT encoder + tokenizer, with no classification head (a base model to fine-tune)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-encoder"))


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory):
    """A tiny random multi-label BERT classifier over TINY_LABELS (no thresholds.json)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-classifier"), labels=TINY_LABELS)


#: thresholds.json of `tiny_artifact_dir`: two tuned labels, the others take the fallback.
TINY_THRESHOLDS = {"thresholds": {"toxic": 0.3, "threat": 0.7}, "fallback": 0.45, "method": "fixed for tests"}


@pytest.fixture(scope="session")
def tiny_artifact_dir(tiny_classifier_dir, tmp_path_factory):
    """A model artifact as model.tar.gz holds it: the tiny classifier, thresholds.json and code/inference.py."""
    import json
    import shutil

    from inference import install_inference_code

    artifact = tmp_path_factory.mktemp("tiny-artifact") / "model"
    shutil.copytree(tiny_classifier_dir, artifact)
    (artifact / "thresholds.json").write_text(json.dumps(TINY_THRESHOLDS), encoding="utf-8")
    install_inference_code(artifact)
    return artifact


@pytest.fixture(scope="session")
def cdk_app(tmp_path_factory):
    """The CDK app synthesized once with cdk.json's defaults (templates, stacks, cdk-nag report)."""
    from tests.support.cdk_app import synthesize

    return synthesize(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def cdk_app_variant(tmp_path_factory):
    """The CDK app with the other choices: API keys only, an explicit model, a p3 instance, an alarm e-mail."""
    from tests.support.cdk_app import synthesize

    return synthesize(
        tmp_path_factory.mktemp("cdk-variant"),
        name_prefix="variant",
        api_auth="api_key",
        model_data_url="s3://example-models/textclf/model.tar.gz",
        serving_instance_type="ml.p3.2xlarge",
        alarm_email="ops@example.com",
        min_instance_count="2",
        initial_instance_count="2",
        max_instance_count="6",
    )


@pytest.fixture(scope="session")
def trained_run(tiny_bert_encoder_dir, tmp_path_factory):
    """The real training entry point run once on the tiny BERT and the shipped moderation dataset (with test split).

    Returns (TrainingRun, model_dir); the label order is that of the dataset's names file (= TINY_LABELS).
    """
    from tests.support.training import QUICK_TRAINING_ARGS, moderation_data_args, run_training

    model_dir = tmp_path_factory.mktemp("trained") / "model"
    run = run_training(
        [
            "--model_name_or_path",
            str(tiny_bert_encoder_dir),
            *moderation_data_args(),
            "--label_names_file",
            "labels.txt",
            "--output_dir",
            str(model_dir),
            *QUICK_TRAINING_ARGS,
        ]
    )
    assert run.returncode == 0, f"training failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run, model_dir


@pytest.fixture(scope="session")
def trained_artifact_dir(trained_run):
    """A model artifact written by the training entry point (tiny BERT, shipped dataset): model.tar.gz's content."""
    return trained_run[1]


@pytest.fixture(scope="session")
def tiny_model_server(tiny_artifact_dir):
    """`tiny_artifact_dir` served by the toolkit and Multi Model Server, as the endpoint serves it (one per session)."""
    from inference.local_server import serve_model_dir

    with serve_model_dir(tiny_artifact_dir) as server:
        yield server
