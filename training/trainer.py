"""The Trainer as multi-label training needs it: order-keeping evaluation, optional pos_weight loss, scores out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import SequentialSampler
from transformers import Trainer

from training.metrics import sigmoid

logger = logging.getLogger(__name__)


class MultiLabelTrainer(Trainer):
    """transformers' Trainer, evaluating in data order.

    transformers 4.49 also applies `group_by_length` to evaluation, with a randomly ordered sampler that torchrun
    processes do not share: they would score overlapping parts of the split and miss others. Length grouping stays
    on for training, where it saves the padding.
    """

    def _get_eval_sampler(self, eval_dataset):
        # One process: in order. Several: no sampler, and accelerate gives each process consecutive batches.
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None


@dataclass(frozen=True)
class SplitScores:
    """Every example's true labels and sigmoid scores (gathered from all processes), and the split's loss."""

    truth: np.ndarray
    scores: np.ndarray
    loss: float


def predict_scores(trainer: Trainer, dataset, prefix: str) -> SplitScores:
    prediction = trainer.predict(dataset, metric_key_prefix=prefix)
    return SplitScores(
        truth=np.asarray(prediction.label_ids),
        scores=sigmoid(prediction.predictions),
        loss=prediction.metrics[f"{prefix}_loss"],
    )


def weighted_bce_loss(truth: np.ndarray, label_names: Sequence[str], max_pos_weight: float):
    """A compute_loss_func: BCE whose positives of label j weigh negatives_j / positives_j (at most max_pos_weight),
    so that rare labels are not drowned by their negatives."""
    positives = truth.sum(axis=0)
    negatives = len(truth) - positives
    pos_weight = torch.tensor(
        np.minimum(negatives / np.maximum(positives, 1), max_pos_weight), dtype=torch.float32
    )
    logger.info(
        "pos_weight: %s", dict(zip(label_names, np.round(pos_weight.numpy(), 2).tolist(), strict=True))
    )

    def loss(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"]
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits, labels.to(logits.dtype), pos_weight=pos_weight.to(logits.device, logits.dtype)
        )

    return loss
