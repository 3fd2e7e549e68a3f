"""Write the model artifact: the directory SageMaker packs into model.tar.gz and the endpoint loads as-is.

Layout: config.json (id2label, label2id, problem_type), model.safetensors, tokenizer files, thresholds.json,
eval_results.json, README.md (model card), threshold_curves.png, and code/ (inference.py and the files it reads,
installed by the inference package, which the source tarball ships next to training/). Everything is written to a
staging directory next to the output directory and moved in only when complete, so a failed job leaves no
half-written model behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from inference import install_inference_code
from training.errors import TrainingInputError
from training.thresholds import ThresholdChoice, plot_f1_curves

THRESHOLDS_FILE = "thresholds.json"
EVAL_RESULTS_FILE = "eval_results.json"
CURVES_FILE = "threshold_curves.png"
MODEL_CARD_FILE = "README.md"


def check_output_dir(model_dir: Path, overwrite: bool) -> None:
    """Refuse to mix a new model with an old one (checked before training, so the job fails fast)."""
    if model_dir.exists() and not model_dir.is_dir():
        raise TrainingInputError(f"output_dir {model_dir} is a file, not a directory")
    if model_dir.is_dir() and any(model_dir.iterdir()) and not overwrite:
        raise TrainingInputError(
            f"output_dir {model_dir} already exists and is not empty; use --overwrite_output_dir to replace it"
        )


def write_model_artifact(
    model_dir: Path,
    *,
    model,
    tokenizer,
    choice: ThresholdChoice,
    eval_results: Mapping,
    model_card: str,
    overwrite: bool,
) -> Path:
    """Write every artifact file to a staging directory, then move them into `model_dir`."""
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.staging-", dir=model_dir.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        write_json(staging / THRESHOLDS_FILE, choice.to_json())
        write_json(staging / EVAL_RESULTS_FILE, eval_results)
        plot_f1_curves(choice, staging / CURVES_FILE)
        (staging / MODEL_CARD_FILE).write_text(model_card, encoding="utf-8")
        install_inference_code(
            staging
        )  # code/: the handler and what it reads, as the inference package defines
        _move_into_place(staging, model_dir, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return model_dir


def write_json(path: Path, content: Mapping) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def _move_into_place(staging: Path, model_dir: Path, overwrite: bool) -> None:
    """Move the finished files in. `model_dir` itself is kept: on SageMaker /opt/ml/model may be a mount point."""
    model_dir.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for entry in model_dir.iterdir():
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    for entry in sorted(staging.iterdir()):
        shutil.move(str(entry), str(model_dir / entry.name))
