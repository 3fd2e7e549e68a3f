"""Multi-label metrics, and the `name=value` lines that SageMaker metric definitions read from the log.

Every split is scored twice: at the tuned per-label thresholds (`eval_f1_macro`) and at a plain 0.5
(`eval_f1_macro_at_0.5`), so the gain of tuning is visible. Validation metrics at tuned thresholds are optimistic
(the thresholds were chosen on it); the test split gives the honest figure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.special import expit
from sklearn.metrics import roc_auc_score
from transformers import EvalPrediction, TrainerCallback

from training.thresholds import tune_thresholds

PLAIN_THRESHOLD = 0.5
PLAIN_SUFFIX = "_at_0.5"
AVERAGES = ("micro", "macro", "weighted", "samples")
#: Aggregate metrics of a split, in the order they are printed.
AGGREGATES = (
    *(f"{measure}_{average}" for measure in ("f1", "precision", "recall") for average in AVERAGES),
    "roc_auc_macro",
    "subset_accuracy",
    "hamming_loss",
)
#: The aggregates that depend on the threshold (reported again at 0.5; ROC-AUC does not depend on it).
THRESHOLDED = tuple(name for name in AGGREGATES if name != "roc_auc_macro")
PER_LABEL = ("f1", "precision", "recall", "support", "threshold")


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return expit(np.asarray(logits, dtype=np.float64))


def multilabel_metrics(
    y_true: np.ndarray, scores: np.ndarray, thresholds: np.ndarray | float, label_names: Sequence[str]
) -> dict:
    """Aggregate metrics plus per-label precision/recall/F1/support at the given threshold(s).

    Computed from per-label counts (undefined ratios count as 0, like sklearn's zero_division=0), which also holds
    for a single label, where sklearn would switch to binary averaging over the classes 0 and 1.
    """
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=float), (len(label_names),))
    truth = y_true.astype(bool)
    predicted = scores >= thresholds
    true_positives = (truth & predicted).sum(axis=0)
    support = truth.sum(axis=0)
    precision = _ratio(true_positives, predicted.sum(axis=0))
    recall = _ratio(true_positives, support)
    f1 = _ratio(2 * true_positives, predicted.sum(axis=0) + support)
    row_true_positives = (truth & predicted).sum(axis=1)
    by_average = {
        "micro": (
            _ratio(true_positives.sum(), predicted.sum()),
            _ratio(true_positives.sum(), support.sum()),
            _ratio(2 * true_positives.sum(), predicted.sum() + support.sum()),
        ),
        "macro": (precision.mean(), recall.mean(), f1.mean()),
        "weighted": tuple(
            _ratio((values * support).sum(), support.sum()) for values in (precision, recall, f1)
        ),
        "samples": (
            _ratio(row_true_positives, predicted.sum(axis=1)).mean(),
            _ratio(row_true_positives, truth.sum(axis=1)).mean(),
            _ratio(2 * row_true_positives, predicted.sum(axis=1) + truth.sum(axis=1)).mean(),
        ),
    }
    metrics: dict = {}
    for measure, position in (("f1", 2), ("precision", 0), ("recall", 1)):
        metrics.update(
            {f"{measure}_{average}": float(values[position]) for average, values in by_average.items()}
        )
    metrics["roc_auc_macro"] = _roc_auc_macro(truth, scores)
    metrics["subset_accuracy"] = float((truth == predicted).all(axis=1).mean())
    metrics["hamming_loss"] = float((truth != predicted).mean())
    metrics["per_label"] = {
        name: {
            "f1": float(f1[index]),
            "precision": float(precision[index]),
            "recall": float(recall[index]),
            "support": int(support[index]),
            "threshold": float(thresholds[index]),
        }
        for index, name in enumerate(label_names)
    }
    return metrics


def _ratio(numerator, denominator):
    """numerator / denominator, 0 where the denominator is 0."""
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    return np.divide(
        numerator,
        denominator,
        out=np.zeros(np.broadcast(numerator, denominator).shape),
        where=denominator > 0,
    )


def _roc_auc_macro(y_true: np.ndarray, scores: np.ndarray) -> float | None:
    """Macro ROC-AUC over the labels that have both positives and negatives (undefined for the others)."""
    defined = [index for index in range(y_true.shape[1]) if 0 < y_true[:, index].sum() < len(y_true)]
    if not defined:
        return None
    return float(np.mean([roc_auc_score(y_true[:, index], scores[:, index]) for index in defined]))


def split_report(
    y_true: np.ndarray,
    scores: np.ndarray,
    thresholds: np.ndarray,
    label_names: Sequence[str],
    loss: float | None,
) -> dict:
    """One split's section of eval_results.json."""
    return {
        "num_examples": len(y_true),
        "loss": loss,
        "tuned_thresholds": multilabel_metrics(y_true, scores, thresholds, label_names),
        "threshold_0.5": multilabel_metrics(y_true, scores, PLAIN_THRESHOLD, label_names),
    }


def metric_lines(prefix: str, report: Mapping) -> dict[str, float]:
    """The flat `name -> value` metrics of one split: `<prefix>_f1_macro`, `<prefix>_f1_macro_at_0.5`,
    `<prefix>_label_<label>_f1`, ... (undefined values such as a ROC-AUC without positives are left out)."""
    lines = {}
    if report.get("loss") is not None:
        lines[f"{prefix}_loss"] = report["loss"]
    lines.update({f"{prefix}_{name}": report["tuned_thresholds"][name] for name in AGGREGATES})
    lines.update({f"{prefix}_{name}{PLAIN_SUFFIX}": report["threshold_0.5"][name] for name in THRESHOLDED})
    for label, values in report["tuned_thresholds"]["per_label"].items():
        lines.update({f"{prefix}_label_{metric_safe(label)}_{name}": values[name] for name in PER_LABEL})
    return {name: value for name, value in lines.items() if value is not None}


def metric_safe(label: str) -> str:
    """A label name usable inside a metric name (letters, digits, `_` and `-`)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", label).strip("_") or "label"


def format_metric_line(name: str, value: float) -> str:
    """`name=value`, with a plain decimal value that a `([0-9.]+)` regex reads whole."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return f"{name}={int(value)}"
    return f"{name}={float(value):.6f}"


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def print_metric_lines(metrics: Mapping[str, float]) -> None:
    for name, value in metrics.items():
        print(format_metric_line(name, value), flush=True)


class MetricLinesCallback(TrainerCallback):
    """Print every numeric value the Trainer logs (loss, eval_f1_macro per epoch, train_runtime...) as
    `name=value`, so that SageMaker charts them over the course of the job."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero:
            print_metric_lines({name: value for name, value in (logs or {}).items() if _is_number(value)})


def trainer_metrics(
    prediction: EvalPrediction, label_names: Sequence[str], min_positives: int, fallback: float
):
    """The Trainer's compute_metrics: aggregates at thresholds tuned on this evaluation, and at 0.5.

    The best checkpoint is the one with the best tuned macro-F1, because tuned thresholds are what gets deployed.
    """
    scores = sigmoid(prediction.predictions)
    y_true = np.asarray(prediction.label_ids)
    choice = tune_thresholds(y_true, scores, label_names, min_positives, fallback)
    tuned = multilabel_metrics(y_true, scores, choice.thresholds, label_names)
    plain = multilabel_metrics(y_true, scores, PLAIN_THRESHOLD, label_names)
    metrics = {name: tuned[name] for name in AGGREGATES}
    metrics.update({f"{name}{PLAIN_SUFFIX}": plain[name] for name in THRESHOLDED})
    return {name: value for name, value in metrics.items() if value is not None}
