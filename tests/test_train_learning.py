"""A real fine-tune: the pretrained MiniLM learns the shipped moderation dataset through the training entry point.

Short texts (max_seq_length 48) and two epochs keep it around a minute on two CPU cores.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tests.support.models import MINILM_DIR
from tests.support.training import MODERATION_DATA_DIR, moderation_data_args, run_training

pytestmark = pytest.mark.slow


def label_frequency_baseline_f1(path) -> float:
    """Macro-F1 of the best predictor that knows only label frequencies: for F1, always predicting a label
    (F1 = 2p / (1 + p) at prevalence p) beats predicting it at random with probability p (F1 = p)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [set(row["labels"].split("|")) for row in csv.DictReader(handle)]
    labels = sorted(set().union(*rows))
    prevalence = np.array([sum(label in row for row in rows) / len(rows) for label in labels])
    return float(np.mean(2 * prevalence / (1 + prevalence)))


def test_minilm_learns_the_moderation_labels(tmp_path):
    model_dir = tmp_path / "model"
    run = run_training(
        [
            "--model_name_or_path",
            str(MINILM_DIR),
            *moderation_data_args(),
            "--label_names_file",
            "labels.txt",
            "--output_dir",
            str(model_dir),
            "--num_train_epochs",
            "2",
            "--learning_rate",
            "3e-4",
            "--warmup_ratio",
            "0.1",
            "--per_device_train_batch_size",
            "16",
            "--per_device_eval_batch_size",
            "64",
            "--max_seq_length",
            "48",
            "--use_pos_weight",
            "True",
            "--save_total_limit",
            "1",
            "--seed",
            "0",
            "--disable_tqdm",
            "True",
        ]
    )
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((model_dir / "eval_results.json").read_text(encoding="utf-8"))["metrics"]
    baseline = label_frequency_baseline_f1(MODERATION_DATA_DIR / "test.csv")
    assert 0.3 < baseline < 0.5
    assert metrics["test_f1_macro"] >= 0.85
    assert metrics["test_f1_macro"] >= baseline + 0.35
    for label in ("toxic", "insult", "threat", "obscene", "identity_hate", "benign"):
        assert metrics[f"test_label_{label}_f1"] >= 0.6, label
