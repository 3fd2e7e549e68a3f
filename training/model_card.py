"""The model card (README.md of the artifact): what the model is, how well it does, how it was made, how to call it."""

from __future__ import annotations

import json
from collections.abc import Mapping

import torch
import transformers

from training.arguments import MultiLabelTrainingArguments
from training.data import LabelledData
from training.metrics import AGGREGATES
from training.thresholds import ThresholdChoice

SPLIT_TITLES = {"validation": "validation", "test": "test"}


def model_card(
    *,
    base_model: str,
    data: LabelledData,
    choice: ThresholdChoice,
    report: Mapping,
    training_args: MultiLabelTrainingArguments,
    max_seq_length: int,
    pad_to_max_length: bool,
) -> str:
    splits = [name for name in SPLIT_TITLES if name in report["splits"]]
    layout = data.layout
    label_source = (
        f"0/1 columns {', '.join(layout.multi_hot_columns)}"
        if layout.multi_hot_columns
        else f"column `{layout.label_column}`"
        + (f", names from `{layout.names_file.name}`" if layout.names_file else "")
    )
    example = {"inputs": ["first comment", "second comment"], "parameters": {"return_all_scores": True}}
    sections = [
        "# Multi-label text classifier",
        f"Fine-tuned from `{base_model}` to tag a text with any number of {len(data.label_names)} labels: one "
        "sigmoid score per label, and a per-label decision threshold (`thresholds.json`) tuned on the validation "
        "split. This directory is a complete SageMaker model (`model.tar.gz` = this directory): the Hugging Face "
        "inference DLC serves it with `code/inference.py`.",
        "## Labels and thresholds",
        _table(
            ["label", "threshold", "chosen by", "validation positives", *[f"{split} F1" for split in splits]],
            [
                [
                    f"`{name}`",
                    f"{choice.thresholds[index]:.2f}",
                    "max validation F1"
                    if choice.tuned[index]
                    else f"fallback ({choice.positives[index]} positives)",
                    str(choice.positives[index]),
                    *[
                        f"{report['splits'][split]['tuned_thresholds']['per_label'][name]['f1']:.3f}"
                        for split in splits
                    ],
                ]
                for index, name in enumerate(data.label_names)
            ],
        ),
        "## Metrics",
        "At the tuned thresholds and at a plain 0.5. Validation figures at tuned thresholds are optimistic "
        "(the thresholds were chosen on validation); test figures are not.",
        _table(
            ["metric", *[f"{split} ({how})" for split in splits for how in ("tuned", "0.5")]],
            [
                [
                    name,
                    *[_number(report["splits"][split][key].get(name)) for split in splits for key in _KEYS],
                ]
                for name in AGGREGATES
            ],
        ),
        "![Validation F1 against threshold, per label](threshold_curves.png)",
        "## Training data",
        _table(
            ["split", "file", "examples"],
            [
                [split, f"`{getattr(data, split).path.name}`", str(len(getattr(data, split)))]
                for split in ("train", "validation", "test")
                if getattr(data, split) is not None
            ],
        ),
        f"Text: column(s) {', '.join(f'`{name}`' for name in layout.text_columns)}"
        + (
            f", joined with {layout.text_delimiter!r} (send the joined text to the endpoint)"
            if len(layout.text_columns) > 1
            else ""
        )
        + f". Labels: {label_source}.",
        "## Training",
        _table(
            ["setting", "value"],
            [
                ["base model", f"`{base_model}`"],
                ["epochs", f"{training_args.num_train_epochs:g}"],
                ["learning rate", f"{training_args.learning_rate:g}"],
                ["batch size per device", str(training_args.per_device_train_batch_size)],
                ["processes", str(training_args.world_size)],
                ["max_seq_length", str(max_seq_length)],
                ["padding", _padding(pad_to_max_length, training_args.group_by_length)],
                [
                    "loss",
                    "BCE with logits" + (" and per-label pos_weight" if training_args.use_pos_weight else ""),
                ],
                ["precision", "bf16" if training_args.bf16 else "fp16" if training_args.fp16 else "fp32"],
                ["best checkpoint", f"by validation {training_args.metric_for_best_model}"],
                ["seed", str(training_args.seed)],
                ["transformers / torch", f"{transformers.__version__} / {torch.__version__}"],
            ],
        ),
        "Training metrics:",
        _table(
            ["metric", "value"], [[name, _number(value)] for name, value in report.get("train", {}).items()]
        ),
        "## Calling the endpoint",
        "`POST` JSON to `/invocations` (see `code/request_schema.json`):",
        f"```json\n{json.dumps(example)}\n```",
        "The response has each text's labels above threshold and their scores, and the thresholds used. "
        "`parameters.threshold` / `parameters.thresholds` override the tuned thresholds for one request.",
        "Files: `config.json` (id2label, label2id, problem_type), `model.safetensors`, tokenizer files, "
        "`thresholds.json`, `eval_results.json` (every metric, per label too), `threshold_curves.png`, `code/`.",
    ]
    return "\n\n".join(sections) + "\n"


_KEYS = ("tuned_thresholds", "threshold_0.5")


def _padding(pad_to_max_length: bool, group_by_length: bool) -> str:
    padding = "every text to max_seq_length" if pad_to_max_length else "each batch to its longest text"
    return padding + (", length-grouped batches" if group_by_length else "")


def _number(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
