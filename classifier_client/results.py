"""Typed results of POST /classify."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from classifier_client.errors import ProtocolError


@dataclass(frozen=True)
class Prediction:
    """The decision for one text: the labels at or above their threshold, and the scores returned."""

    text: str
    labels: tuple[str, ...]
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ClassifyResult:
    """Predictions in input order, and the per-label thresholds the model applied."""

    predictions: list[Prediction]
    thresholds: dict[str, float]

    def __len__(self) -> int:
        return len(self.predictions)

    def __iter__(self):
        return iter(self.predictions)

    def __getitem__(self, index: int) -> Prediction:
        return self.predictions[index]


def parse_response(body: Any, texts: list[str]) -> ClassifyResult:
    """Check one response body against the contract and pair each prediction with its text."""
    if not isinstance(body, dict) or not isinstance(body.get("predictions"), list):
        raise ProtocolError(f"response has no 'predictions' list: {str(body)[:200]}")
    raw_predictions = body["predictions"]
    if len(raw_predictions) != len(texts):
        raise ProtocolError(f"sent {len(texts)} texts but got {len(raw_predictions)} predictions back")
    predictions = []
    for text, raw in zip(texts, raw_predictions, strict=True):
        if not isinstance(raw, dict) or not isinstance(raw.get("labels"), list):
            raise ProtocolError(f"prediction without a 'labels' list: {str(raw)[:200]}")
        scores = raw.get("scores") or {}
        predictions.append(
            Prediction(
                text=text, labels=tuple(raw["labels"]), scores={k: float(v) for k, v in scores.items()}
            )
        )
    thresholds = {k: float(v) for k, v in (body.get("thresholds") or {}).items()}
    return ClassifyResult(predictions=predictions, thresholds=thresholds)


def merge_results(parts: list[ClassifyResult]) -> ClassifyResult:
    """Concatenate the results of consecutive requests (the split keeps input order)."""
    predictions = [prediction for part in parts for prediction in part.predictions]
    return ClassifyResult(predictions=predictions, thresholds=parts[0].thresholds if parts else {})
