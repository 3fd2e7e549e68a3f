"""Run the real training entry point (`python -m training.train`) in a subprocess, as a job would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The shipped content-moderation dataset (examples/make_moderation_dataset.py writes it).
MODERATION_DATA_DIR = REPO_ROOT / "examples" / "data" / "moderation"
#: A quick run: short texts, two epochs (so the best checkpoint is picked among two).
QUICK_TRAINING_ARGS = [
    "--max_seq_length",
    "64",
    "--num_train_epochs",
    "2",
    "--per_device_train_batch_size",
    "32",
    "--per_device_eval_batch_size",
    "64",
    "--seed",
    "0",
    "--disable_tqdm",
    "True",
]


#: A metric line as SageMaker metric definitions read it: `eval_f1_macro=0.531200`.
METRIC_LINE = re.compile(r"^([A-Za-z][\w.-]*)=([0-9.]+)$", re.MULTILINE)


@dataclass(frozen=True)
class TrainingRun:
    returncode: int
    stdout: str
    stderr: str

    def metric_lines(self) -> dict[str, float]:
        """The `name=value` lines of stdout (the last value of each name)."""
        return {name: float(value) for name, value in METRIC_LINE.findall(self.stdout)}


def unpack_source_tarball(directory: Path) -> Path:
    """The training source tarball untarred into `directory`, as SageMaker untars it into /opt/ml/code."""
    from training.packaging import build_source_tarball

    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(build_source_tarball(directory.parent / f"{directory.name}.tar.gz")) as archive:
        archive.extractall(directory, filter="data")
    return directory


def moderation_data_args(data_dir: Path = MODERATION_DATA_DIR, test: bool = True) -> list[str]:
    args = [
        "--train_file",
        str(data_dir / "train.csv"),
        "--validation_file",
        str(data_dir / "validation.csv"),
    ]
    return args + (["--test_file", str(data_dir / "test.csv")] if test else [])


def run_training(
    args: list[str],
    env: dict[str, str] | None = None,
    cwd: Path = REPO_ROOT,
    entry: list[str] | None = None,
    timeout: int = 600,
) -> TrainingRun:
    """Run `python -m training.train ARGS` (or `entry`) offline. The caller's SM_* variables and PYTHONPATH are not
    inherited: the entry point must find its code by itself (in `cwd`, like /opt/ml/code)."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SM_") and name != "PYTHONPATH"
    }
    environment.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    environment.update(env or {})
    command = entry or [sys.executable, "-m", "training.train"]
    completed = subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return TrainingRun(completed.returncode, completed.stdout, completed.stderr)
