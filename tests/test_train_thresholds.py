"""Per-label threshold tuning, multi-label metrics and the `name=value` metric lines (pure functions, no model)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_score, recall_score
from transformers import EvalPrediction

from training.metrics import (
    AGGREGATES,
    format_metric_line,
    metric_lines,
    multilabel_metrics,
    split_report,
    trainer_metrics,
)
from training.thresholds import THRESHOLD_GRID, f1_curves, plot_f1_curves, tune_thresholds

LABELS = ["rare_but_separable", "frequent", "too_few"]


def scores_and_truth(seed=0):
    """Label 0: positives score 0.2-0.3, negatives below 0.1 (0.5 misses them all). Label 1: noisy, frequent.
    Label 2: two positives only (too few to tune on)."""
    rng = np.random.default_rng(seed)
    n = 200
    truth = np.zeros((n, 3), dtype=np.float32)
    truth[:30, 0] = 1
    truth[:, 1] = rng.random(n) < 0.6
    truth[:2, 2] = 1
    scores = np.empty((n, 3))
    scores[:, 0] = np.where(truth[:, 0] == 1, rng.uniform(0.2, 0.3, n), rng.uniform(0.0, 0.1, n))
    scores[:, 1] = np.clip(truth[:, 1] * 0.3 + rng.uniform(0.2, 0.7, n), 0, 1)
    scores[:, 2] = rng.uniform(0, 1, n)
    return truth, scores


def test_f1_curves_match_sklearn_at_every_threshold():
    truth, scores = scores_and_truth()
    curves = f1_curves(truth, scores)
    for grid_index in (0, 24, 49, 77, 98):
        predicted = scores >= THRESHOLD_GRID[grid_index]
        expected = f1_score(truth, predicted, average=None, zero_division=0)
        np.testing.assert_allclose(curves[:, grid_index], expected)


def test_tuned_thresholds_maximize_f1_per_label_with_a_fallback_for_few_positives():
    truth, scores = scores_and_truth()
    choice = tune_thresholds(truth, scores, LABELS, min_positives=5, fallback=0.5)
    # Label 0 is perfectly separable between 0.1 and 0.2: the middle of the tied thresholds lies in that gap.
    assert 0.1 < choice.thresholds[0] <= 0.2
    assert choice.f1_curves[0].max() == 1.0
    assert choice.tuned.tolist() == [True, True, False]
    assert choice.thresholds[2] == 0.5
    assert choice.positives.tolist() == [30, int(truth[:, 1].sum()), 2]
    tuned = multilabel_metrics(truth, scores, choice.thresholds, LABELS)
    plain = multilabel_metrics(truth, scores, 0.5, LABELS)
    assert tuned["per_label"]["rare_but_separable"]["f1"] == 1.0
    assert plain["per_label"]["rare_but_separable"]["f1"] == 0.0
    assert tuned["per_label"]["frequent"]["f1"] >= plain["per_label"]["frequent"]["f1"]


def test_ties_resolve_to_the_middle_of_the_plateau():
    truth = np.array([[1], [0]], dtype=np.float32)
    scores = np.array([[0.61], [0.2]])
    choice = tune_thresholds(truth, scores, ["a"], min_positives=1)
    plateau = THRESHOLD_GRID[(THRESHOLD_GRID > 0.2) & (THRESHOLD_GRID <= 0.61)]
    assert choice.thresholds[0] == plateau[len(plateau) // 2]


def test_thresholds_json_content():
    truth, scores = scores_and_truth()
    document = tune_thresholds(truth, scores, LABELS, min_positives=5, fallback=0.4).to_json()
    assert set(document["thresholds"]) == set(LABELS)
    assert document["fallback"] == 0.4
    assert document["thresholds"]["too_few"] == 0.4
    assert document["method"] == "per_label_max_f1"
    assert document["labels"]["too_few"] == {
        "threshold": 0.4,
        "tuned": False,
        "validation_positives": 2,
        "validation_f1": None,
    }
    assert document["labels"]["rare_but_separable"]["validation_f1"] == 1.0


def test_metrics_against_hand_computed_values():
    truth = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=np.float32)
    scores = np.array([[0.9, 0.2], [0.4, 0.8], [0.1, 0.6], [0.6, 0.1]])
    metrics = multilabel_metrics(truth, scores, np.array([0.5, 0.5]), ["a", "b"])
    # a: predicted rows 0 and 3 (tp 1, fp 1, fn 1); b: predicted rows 1 and 2 (tp 2).
    assert metrics["per_label"]["a"] == {
        "f1": 0.5,
        "precision": 0.5,
        "recall": 0.5,
        "support": 2,
        "threshold": 0.5,
    }
    assert metrics["per_label"]["b"]["f1"] == 1.0
    assert metrics["f1_macro"] == pytest.approx(0.75)
    assert metrics["f1_micro"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert metrics["subset_accuracy"] == pytest.approx(0.5)  # rows 0 and 2 are exactly right
    assert metrics["hamming_loss"] == pytest.approx(2 / 8)
    assert metrics["roc_auc_macro"] == pytest.approx((0.75 + 1.0) / 2)


def test_metrics_agree_with_sklearn():
    truth, scores = scores_and_truth()
    truth[5:9] = 0  # rows without any label (a zero division for samples averages)
    thresholds = np.array([0.15, 0.55, 0.5])
    metrics = multilabel_metrics(truth, scores, thresholds, LABELS)
    predicted = scores >= thresholds
    for average in ("micro", "macro", "weighted", "samples"):
        for name, function in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score)):
            expected = function(truth, predicted, average=average, zero_division=0)
            assert metrics[f"{name}_{average}"] == pytest.approx(expected), (name, average)
    assert metrics["subset_accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert metrics["hamming_loss"] == pytest.approx(hamming_loss(truth, predicted))


def test_one_label_is_still_multi_label_averaging():
    truth = np.array([[1], [0], [1], [0]], dtype=np.float32)
    metrics = multilabel_metrics(truth, np.array([[0.9], [0.8], [0.2], [0.1]]), 0.5, ["toxic"])
    assert metrics["f1_macro"] == metrics["per_label"]["toxic"]["f1"] == pytest.approx(0.5)
    assert metrics["f1_samples"] == pytest.approx(0.25)  # one of four rows right and non-empty


def test_roc_auc_is_left_out_where_undefined():
    truth = np.ones((3, 1), dtype=np.float32)
    metrics = multilabel_metrics(truth, np.array([[0.2], [0.7], [0.9]]), 0.5, ["always"])
    assert metrics["roc_auc_macro"] is None
    report = split_report(truth, np.array([[0.2], [0.7], [0.9]]), np.array([0.5]), ["always"], loss=0.3)
    assert "eval_roc_auc_macro" not in metric_lines("eval", report)


def test_metric_lines_have_stable_names_and_regex_friendly_values():
    truth, scores = scores_and_truth()
    choice = tune_thresholds(truth, scores, LABELS)
    lines = metric_lines("test", split_report(truth, scores, choice.thresholds, LABELS, loss=0.25))
    for name in AGGREGATES:
        assert f"test_{name}" in lines
    assert "test_f1_macro_at_0.5" in lines and "test_roc_auc_macro_at_0.5" not in lines
    assert lines["test_loss"] == 0.25
    assert lines["test_label_rare_but_separable_threshold"] == choice.thresholds[0]
    assert lines["test_label_too_few_support"] == 2
    for name, value in lines.items():
        line = format_metric_line(name, value)
        match = re.fullmatch(rf"{re.escape(name)}=([0-9.]+)", line)
        assert match and float(match.group(1)) == pytest.approx(value, abs=1e-6), line
    assert format_metric_line("eval_label_x_support", np.int64(7)) == "eval_label_x_support=7"
    assert format_metric_line("learning_rate", 1e-05) == "learning_rate=0.000010"


def test_label_names_become_metric_safe():
    report = split_report(
        np.ones((2, 1), dtype=np.float32),
        np.array([[0.9], [0.8]]),
        np.array([0.5]),
        ["hate speech/other"],
        None,
    )
    assert "eval_label_hate_speech_other_f1" in metric_lines("eval", report)


def test_trainer_metrics_are_scalars_for_checkpoint_selection():
    truth, scores = scores_and_truth()
    logits = np.log(scores.clip(1e-6, 1 - 1e-6) / (1 - scores.clip(1e-6, 1 - 1e-6)))
    metrics = trainer_metrics(EvalPrediction(predictions=logits, label_ids=truth), LABELS, 5, 0.5)
    assert all(isinstance(value, float) for value in metrics.values())
    assert metrics["f1_macro"] > metrics["f1_macro_at_0.5"]
    assert "per_label" not in metrics


def test_curves_png(tmp_path):
    truth, scores = scores_and_truth()
    path = plot_f1_curves(tune_thresholds(truth, scores, LABELS), tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
