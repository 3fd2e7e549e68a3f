"""The training entry point end to end, on a tiny random BERT: the artifact it writes (every file and its content),
a SageMaker job's layout with string hyperparameters, torchrun, and how it fails on bad input."""

from __future__ import annotations

import csv
import json
import shutil
import sys

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from inference import CODE_FILES
from tests.conftest import TINY_LABELS
from tests.support.training import (
    MODERATION_DATA_DIR,
    QUICK_TRAINING_ARGS,
    REPO_ROOT,
    moderation_data_args,
    run_training,
    unpack_source_tarball,
)
from training import artifacts, train
from training.metrics import multilabel_metrics
from training.thresholds import tune_thresholds

pytestmark = pytest.mark.slow

ARTIFACT_FILES = {
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "thresholds.json",
    "eval_results.json",
    "README.md",
    "threshold_curves.png",
    *(f"code/{name}" for name in CODE_FILES),
}


def artifact_files(model_dir):
    return {path.relative_to(model_dir).as_posix() for path in model_dir.rglob("*") if path.is_file()}


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_artifact_holds_exactly_the_deployable_files(trained_artifact_dir):
    assert artifact_files(trained_artifact_dir) == ARTIFACT_FILES
    # Checkpoints went next to it, and no staging directory is left behind.
    siblings = {path.name for path in trained_artifact_dir.parent.iterdir()}
    assert siblings == {"model", "model-checkpoints"}
    assert any((trained_artifact_dir.parent / "model-checkpoints").glob("checkpoint-*"))
    for name in CODE_FILES:
        assert (trained_artifact_dir / "code" / name).read_bytes() == (
            REPO_ROOT / "inference" / name
        ).read_bytes()
    assert (trained_artifact_dir / "threshold_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_is_multi_label_with_the_names_file_order(trained_artifact_dir):
    config = read_json(trained_artifact_dir / "config.json")
    assert config["problem_type"] == "multi_label_classification"
    assert config["id2label"] == {str(index): name for index, name in enumerate(TINY_LABELS)}
    assert config["label2id"] == {name: index for index, name in enumerate(TINY_LABELS)}


def test_thresholds_json(trained_artifact_dir):
    document = read_json(trained_artifact_dir / "thresholds.json")
    assert set(document["thresholds"]) == set(TINY_LABELS)
    assert document["fallback"] == 0.5 and document["method"] == "per_label_max_f1"
    for name, threshold in document["thresholds"].items():
        detail = document["labels"][name]
        assert detail["threshold"] == threshold
        assert 0.01 <= threshold <= 0.99 if detail["tuned"] else threshold == 0.5
        assert detail["tuned"] == (detail["validation_positives"] >= document["min_positives"])


def test_eval_results_are_the_printed_lines_and_the_saved_models_own_scores(trained_run):
    """Re-scoring validation with the saved model gives the reported loss and F1: the artifact is the model
    that was evaluated (the best checkpoint), and the predictions were matched with the right labels."""
    run, model_dir = trained_run
    results = read_json(model_dir / "eval_results.json")
    thresholds = read_json(model_dir / "thresholds.json")["thresholds"]
    assert results["labels"] == TINY_LABELS and results["thresholds"] == thresholds

    printed = run.metric_lines()
    assert set(results["metrics"]) <= set(printed)
    for name, value in results["metrics"].items():
        assert printed[name] == pytest.approx(value, abs=1e-6), name
    for name in ("eval_f1_macro", "eval_f1_macro_at_0.5", "test_f1_macro", "test_f1_micro", "test_roc_auc_macro",
                 "test_hamming_loss", "test_subset_accuracy", "test_f1_samples", "eval_label_threat_threshold",
                 "train_samples_per_second", "train_loss", "epoch"):  # fmt: skip
        assert name in printed, name
    assert run.stdout.count("\neval_f1_macro=") == 3  # two epochs, then the best model
    assert set(results["splits"]) == {"validation", "test"}
    assert results["splits"]["test"]["num_examples"] == 120
    assert results["train"]["epoch"] == 2.0

    with (MODERATION_DATA_DIR / "validation.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    truth = np.array([[float(label in row["labels"].split("|")) for label in TINY_LABELS] for row in rows])
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    encoded = tokenizer(
        [row["text"] for row in rows], truncation=True, max_length=64, padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        logits = model(**encoded).logits
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.tensor(truth, dtype=torch.float32)
    )
    assert loss.item() == pytest.approx(results["splits"]["validation"]["loss"], abs=1e-5)
    scores = torch.sigmoid(logits).numpy()
    expected = multilabel_metrics(
        truth, scores, np.array([thresholds[name] for name in TINY_LABELS]), TINY_LABELS
    )
    assert results["metrics"]["eval_f1_macro"] == pytest.approx(expected["f1_macro"], abs=1e-6)


def test_model_card_reports_labels_thresholds_and_metrics(trained_artifact_dir):
    card = (trained_artifact_dir / "README.md").read_text(encoding="utf-8")
    results = read_json(trained_artifact_dir / "eval_results.json")
    for name in TINY_LABELS:
        assert f"| `{name}` |" in card
    assert f"| f1_macro | {results['metrics']['eval_f1_macro']:.4f} |" in card
    assert "threshold_curves.png" in card and "code/inference.py" in card


def sagemaker_layout(tmp_path, data_files=None):
    """/opt/ml as a SageMaker training job sees it (under tmp_path): channels, code from the source tarball."""
    opt_ml = tmp_path / "opt" / "ml"
    for channel, name in (("train", "train.csv"), ("validation", "validation.csv"), ("test", "test.csv")):
        directory = opt_ml / "input" / "data" / channel
        directory.mkdir(parents=True)
        source = (data_files or {}).get(channel, MODERATION_DATA_DIR / name)
        shutil.copy(source, directory / name)
    shutil.copy(MODERATION_DATA_DIR / "labels.txt", opt_ml / "input" / "data" / "train" / "labels.txt")
    for directory in ("model", "output/data"):
        (opt_ml / directory).mkdir(parents=True)
    unpack_source_tarball(opt_ml / "code")
    environment = {
        "SM_MODEL_DIR": str(opt_ml / "model"),
        "SM_CHANNEL_TRAIN": str(opt_ml / "input" / "data" / "train"),
        "SM_CHANNEL_VALIDATION": str(opt_ml / "input" / "data" / "validation"),
        "SM_CHANNEL_TEST": str(opt_ml / "input" / "data" / "test"),
        "SM_OUTPUT_DATA_DIR": str(opt_ml / "output" / "data"),
        "SM_OUTPUT_DIR": str(opt_ml / "output"),
        "SM_NUM_GPUS": "0",
    }
    return opt_ml, environment


def test_a_sagemaker_job_with_string_hyperparameters(tmp_path, tiny_bert_encoder_dir):
    """Script mode as the training toolkit runs it: `python train.py --key value ...` in /opt/ml/code (the untarred
    source tarball, nothing from the repository on the path), data and output paths only from SM_* variables."""
    opt_ml, environment = sagemaker_layout(tmp_path)
    hyperparameters = {
        "model_name_or_path": str(tiny_bert_encoder_dir),
        "do_train": "True",
        "do_eval": "True",
        "num_train_epochs": "1",
        "save_total_limit": "1",
        "max_seq_length": "64",
        "per_device_train_batch_size": "32",
        "learning_rate": "0.0001",
        "use_pos_weight": "True",
        "fp16": "False",
        "label_names_file": "labels.txt",
    }
    args = [item for name, value in hyperparameters.items() for item in (f"--{name}", value)]
    run = run_training(args, env=environment, cwd=opt_ml / "code", entry=[sys.executable, "train.py"])
    assert run.returncode == 0, run.stderr[-3000:]
    assert artifact_files(opt_ml / "model") == ARTIFACT_FILES
    assert any((opt_ml / "checkpoints").glob("checkpoint-*"))  # synced by SageMaker for spot restarts
    assert not (opt_ml / "output" / "failure").exists()
    results = read_json(opt_ml / "model" / "eval_results.json")
    assert results["labels"] == TINY_LABELS
    assert {split: report["num_examples"] for split, report in results["splits"].items()} == {
        "validation": 120,
        "test": 120,
    }
    assert "test_f1_macro" in run.metric_lines()
    assert "per-label pos_weight" in (opt_ml / "model" / "README.md").read_text(encoding="utf-8")
    assert "pos_weight: {'toxic': " in run.stdout + run.stderr


def test_a_restarted_spot_job_resumes_from_its_last_complete_checkpoint(tmp_path, tiny_bert_encoder_dir):
    """A spot job restarted on a new instance: an empty model directory, /opt/ml/checkpoints restored from S3 (one
    checkpoint left half-written by the interruption). It continues from the last complete checkpoint."""
    opt_ml, environment = sagemaker_layout(tmp_path)
    hyperparameters = ["--model_name_or_path", str(tiny_bert_encoder_dir), "--label_names_file", "labels.txt"]
    hyperparameters += ["--max_seq_length", "64", "--per_device_train_batch_size", "32", "--fp16", "False"]
    entry = [sys.executable, "train.py"]
    first = run_training(
        [*hyperparameters, "--num_train_epochs", "1"], env=environment, cwd=opt_ml / "code", entry=entry
    )
    assert first.returncode == 0, first.stderr[-3000:]
    checkpoints = opt_ml / "checkpoints"
    (saved,) = checkpoints.glob("checkpoint-*")
    steps_per_epoch = int(saved.name.removeprefix("checkpoint-"))
    (
        checkpoints / f"checkpoint-{steps_per_epoch + 1}"
    ).mkdir()  # interrupted while saving: no trainer_state.json
    shutil.rmtree(opt_ml / "model")
    (opt_ml / "model").mkdir()

    restarted = run_training(
        [*hyperparameters, "--num_train_epochs", "2"], env=environment, cwd=opt_ml / "code", entry=entry
    )
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    log = restarted.stdout + restarted.stderr
    assert f"Resuming from {saved}" in log
    assert f"Continuing training from global step {steps_per_epoch}" in log
    state = read_json(checkpoints / f"checkpoint-{2 * steps_per_epoch}" / "trainer_state.json")
    assert state["global_step"] == 2 * steps_per_epoch
    assert artifact_files(opt_ml / "model") == ARTIFACT_FILES


def test_torchrun_trains_one_model_and_only_rank_zero_writes(tmp_path, tiny_bert_encoder_dir):
    code = unpack_source_tarball(tmp_path / "code")
    model_dir = tmp_path / "model"
    args = [
        "--model_name_or_path",
        str(tiny_bert_encoder_dir),
        *moderation_data_args(test=False),
        "--output_dir",
        str(model_dir),
        *QUICK_TRAINING_ARGS,
        "--num_train_epochs",
        "1",
    ]
    entry = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "train.py",
    ]
    run = run_training(args, cwd=code, entry=entry)
    assert run.returncode == 0, run.stderr[-3000:]
    log = run.stdout + run.stderr
    assert "Process rank: 1" in log and "distributed training: True" in log
    assert run.stdout.count("\neval_f1_macro=") == 2  # one epoch and the final report, from rank 0 only
    assert artifact_files(model_dir) == ARTIFACT_FILES
    # Both processes evaluated disjoint halves: the validation loss at the end is the loss of the epoch.
    epoch_loss, final_loss = [line for line in run.stdout.splitlines() if line.startswith("eval_loss=")]
    assert epoch_loss == final_loss
    assert read_json(model_dir / "eval_results.json")["splits"]["validation"]["num_examples"] == 120


def test_bad_data_in_a_job_is_one_line_in_the_log_and_in_the_failure_file(tmp_path, tiny_bert_encoder_dir):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,labels\nhello there,benign\n   ,toxic\n", encoding="utf-8")
    opt_ml, environment = sagemaker_layout(tmp_path, {"validation": bad})
    run = run_training(
        ["--model_name_or_path", str(tiny_bert_encoder_dir)],
        env=environment,
        cwd=opt_ml / "code",
        entry=[sys.executable, "train.py"],
    )
    message = f"{opt_ml}/input/data/validation/validation.csv, line 3, column 'text': empty text"
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == f"ERROR: {message}"
    assert "Traceback" not in run.stderr
    assert (opt_ml / "output" / "failure").read_text(encoding="utf-8") == message
    assert list((opt_ml / "model").iterdir()) == []
    assert not list(opt_ml.glob(".model.staging-*"))


INPUT_ERRORS = {
    "unknown hyperparameter": (["--bogus_option", "1"], "unknown hyperparameter(s): --bogus_option 1"),
    "value of the wrong type": (["--num_train_epochs", "three"], "invalid float value: 'three'"),
    "invalid combination": (
        ["--eval_strategy", "no"],
        "invalid hyperparameters: --load_best_model_at_end requires",
    ),
    "missing model": (None, "the following arguments are required: --model_name_or_path"),
}


@pytest.mark.parametrize("case", INPUT_ERRORS)
def test_bad_hyperparameters_exit_1_with_the_reason_for_sagemaker(case, tmp_path, monkeypatch, capsys):
    extra, expected = INPUT_ERRORS[case]
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path))
    argv = ["--output_dir", str(tmp_path / "model"), *moderation_data_args()]
    argv = argv if extra is None else ["--model_name_or_path", "unused", *argv, *extra]
    with pytest.raises(SystemExit) as exited:
        train.main(argv)
    assert exited.value.code == 1
    assert expected in capsys.readouterr().err
    assert expected in (tmp_path / "failure").read_text(encoding="utf-8")


def test_an_existing_model_is_never_overwritten_unless_asked(tmp_path, monkeypatch, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.safetensors").write_bytes(b"previous model")
    argv = ["--model_name_or_path", "unused", "--output_dir", str(model_dir), *moderation_data_args()]
    with pytest.raises(SystemExit):
        train.main(argv)
    assert "already exists and is not empty; use --overwrite_output_dir" in capsys.readouterr().err
    assert (model_dir / "model.safetensors").read_bytes() == b"previous model"


def test_a_failure_while_writing_leaves_no_half_written_model(tmp_path, tiny_classifier_dir, monkeypatch):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_classifier_dir)
    truth = np.eye(len(TINY_LABELS))
    choice = tune_thresholds(truth, truth * 0.8, TINY_LABELS, min_positives=1)
    write = dict(
        model=model,
        tokenizer=tokenizer,
        choice=choice,
        eval_results={"labels": TINY_LABELS},
        model_card="# card\n",
    )

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "old-file").write_text("from the previous run", encoding="utf-8")

    def broken_plot(choice, path):
        raise OSError("disk full")

    monkeypatch.setattr(artifacts, "plot_f1_curves", broken_plot)
    with pytest.raises(OSError, match="disk full"):
        artifacts.write_model_artifact(model_dir, overwrite=True, **write)
    assert [path.name for path in model_dir.iterdir()] == ["old-file"]
    assert [path.name for path in tmp_path.iterdir()] == ["model"]

    monkeypatch.undo()
    artifacts.write_model_artifact(model_dir, overwrite=True, **write)
    assert artifact_files(model_dir) == ARTIFACT_FILES
    assert [path.name for path in tmp_path.iterdir()] == ["model"]
