"""Choose a decision threshold per label: the one that maximizes that label's F1 on the validation split.

A single 0.5 cut-off suits no label in particular: rare labels get low scores and need a lower threshold, frequent
ones a higher one. Labels with too few validation positives to tune on keep a fixed fallback threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Candidate thresholds: 0.01 to 0.99. A coarse grid: finer steps only fit the validation noise.
THRESHOLD_GRID = np.round(np.linspace(0.01, 0.99, 99), 2)
METHOD = "per_label_max_f1"


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold of every label, how it was chosen, and the F1 curves it was chosen from."""

    label_names: tuple[str, ...]
    thresholds: np.ndarray  # (labels,)
    tuned: np.ndarray  # (labels,) bool: False where the fallback was used
    positives: np.ndarray  # (labels,) validation positives
    f1_curves: np.ndarray  # (labels, len(THRESHOLD_GRID)) validation F1 at each candidate threshold
    fallback: float
    min_positives: int

    def by_label(self) -> dict[str, float]:
        return {
            name: float(threshold) for name, threshold in zip(self.label_names, self.thresholds, strict=True)
        }

    def to_json(self) -> dict:
        """The content of thresholds.json (read by the inference handler: `thresholds` and `fallback`)."""
        return {
            "thresholds": self.by_label(),
            "fallback": self.fallback,
            "method": METHOD,
            "description": (
                "Per label, the threshold in 0.01..0.99 that maximizes F1 on the validation split (the middle one "
                f"when several tie); labels with fewer than {self.min_positives} validation positives use the "
                f"fallback {self.fallback}."
            ),
            "tuned_on": "validation",
            "min_positives": self.min_positives,
            "labels": {
                name: {
                    "threshold": float(self.thresholds[index]),
                    "tuned": bool(self.tuned[index]),
                    "validation_positives": int(self.positives[index]),
                    "validation_f1": float(self.f1_curves[index, _grid_index(self.thresholds[index])])
                    if self.tuned[index]
                    else None,
                }
                for index, name in enumerate(self.label_names)
            },
        }


def f1_curves(y_true: np.ndarray, scores: np.ndarray, grid: np.ndarray = THRESHOLD_GRID) -> np.ndarray:
    """F1 of every label at every threshold of `grid` (predict positive when score >= threshold)."""
    truth = y_true.astype(bool)[:, :, None]
    predicted = scores[:, :, None] >= grid[None, None, :]
    true_positives = (predicted & truth).sum(axis=0)
    false_positives = (predicted & ~truth).sum(axis=0)
    false_negatives = truth.sum(axis=0) - true_positives
    denominator = 2 * true_positives + false_positives + false_negatives
    return np.divide(2 * true_positives, denominator, out=np.zeros(denominator.shape), where=denominator > 0)


def tune_thresholds(
    y_true: np.ndarray,
    scores: np.ndarray,
    label_names: Sequence[str],
    min_positives: int = 5,
    fallback: float = 0.5,
) -> ThresholdChoice:
    """Per label, the grid threshold with the best validation F1; `fallback` for labels with few positives."""
    curves = f1_curves(y_true, scores)
    positives = y_true.astype(bool).sum(axis=0)
    tuned = positives >= max(min_positives, 1)
    thresholds = np.full(len(label_names), fallback, dtype=float)
    for index in np.flatnonzero(tuned):
        best = np.flatnonzero(curves[index] >= curves[index].max() - 1e-12)
        thresholds[index] = THRESHOLD_GRID[best[len(best) // 2]]
    return ThresholdChoice(tuple(label_names), thresholds, tuned, positives, curves, fallback, min_positives)


def plot_f1_curves(choice: ThresholdChoice, path: Path) -> Path:
    """A PNG with one panel per label: validation F1 against threshold, the chosen threshold marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display in a training job
    from matplotlib import pyplot

    columns = min(4, len(choice.label_names))
    rows = -(-len(choice.label_names) // columns)
    figure, axes = pyplot.subplots(rows, columns, figsize=(3.2 * columns, 2.4 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        if index >= len(choice.label_names):
            axis.set_visible(False)
            continue
        threshold = choice.thresholds[index]
        axis.plot(THRESHOLD_GRID, choice.f1_curves[index], color="tab:blue")
        axis.axvline(threshold, color="tab:red" if choice.tuned[index] else "tab:gray", linestyle="--")
        how = "tuned" if choice.tuned[index] else f"fallback, {choice.positives[index]} positives"
        axis.set_title(f"{choice.label_names[index]}: t={threshold:.2f} ({how})", fontsize=8)
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1.02)
        axis.tick_params(labelsize=7)
    figure.supxlabel("threshold")
    figure.supylabel("validation F1")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


def _grid_index(threshold: float) -> int:
    return int(np.abs(THRESHOLD_GRID - threshold).argmin())
