"""SageMaker script-mode conventions: default paths from the SM_* variables, and the failure file.

The SageMaker training toolkit runs `train.py --<hyperparameter> <value> ...` with these variables set
(https://github.com/aws/sagemaker-training-toolkit/blob/master/ENVIRONMENT_VARIABLES.md). Outside SageMaker none
are set and the entry point is a plain local command.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from training.errors import TrainingInputError

logger = logging.getLogger(__name__)

#: Data channel of each split: SM_CHANNEL_<NAME> is the directory SageMaker downloaded that channel to.
SPLIT_CHANNELS = {"train_file": "TRAIN", "validation_file": "VALIDATION", "test_file": "TEST"}
#: SageMaker reports the first 1024 characters of <SM_OUTPUT_DIR>/failure as the job's FailureReason.
FAILURE_FILE_NAME = "failure"
FAILURE_REASON_LIMIT = 1024


def argument_defaults(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Hyperparameter defaults taken from SageMaker's environment (empty outside SageMaker)."""
    defaults = {}
    for argument, channel in SPLIT_CHANNELS.items():
        if environ.get(f"SM_CHANNEL_{channel}"):
            defaults[argument] = environ[f"SM_CHANNEL_{channel}"]
    if environ.get("SM_MODEL_DIR"):
        defaults["output_dir"] = environ["SM_MODEL_DIR"]
        # /opt/ml/checkpoints: the directory SageMaker syncs with the job's checkpoint S3 URI.
        defaults["checkpoint_dir"] = str(Path(environ["SM_MODEL_DIR"]).parent / "checkpoints")
    if environ.get("SM_OUTPUT_DATA_DIR"):
        # Uploaded as output.tar.gz after the job: TensorBoard logs stay inspectable without bloating the model.
        defaults["logging_dir"] = str(Path(environ["SM_OUTPUT_DATA_DIR"]) / "logs")
    return defaults


def channel_dir(argument: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """The SageMaker channel directory that holds the file of `argument` (e.g. train_file), if any."""
    value = environ.get(f"SM_CHANNEL_{SPLIT_CHANNELS[argument]}")
    return Path(value) if value else None


def log_gpu_setup(environ: Mapping[str, str] = os.environ) -> None:
    """Point out a multi-GPU instance used by one process: torchrun (SageMaker `torch_distributed`) is faster."""
    gpus = int(environ.get("SM_NUM_GPUS", "0") or 0)
    if gpus > 1 and "WORLD_SIZE" not in environ:
        logger.warning(
            "%d GPUs and one training process: the Trainer falls back to torch DataParallel. Enable the estimator's "
            "torch_distributed distribution (torchrun) for one process per GPU.",
            gpus,
        )


def write_failure_file(message: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Write `message` where SageMaker takes the job's FailureReason from (SM_OUTPUT_DIR/failure).

    The first failure wins (the toolkit also leaves an existing file alone), so the one clear reason is kept.
    Outside SageMaker (no SM_OUTPUT_DIR) nothing is written.
    """
    output_dir = environ.get("SM_OUTPUT_DIR")
    if not output_dir:
        return None
    path = Path(output_dir) / FAILURE_FILE_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(message[:FAILURE_REASON_LIMIT], encoding="utf-8")
    return path


@contextlib.contextmanager
def report_failures(environ: Mapping[str, str] = os.environ) -> Iterator[None]:
    """Turn a failure into one clear reason: on stderr, in SageMaker's failure file, and a non-zero exit.

    Input errors (bad data, bad hyperparameters) exit with status 1 and no traceback; anything else keeps its
    traceback and also leaves its one-line reason for SageMaker.
    """
    try:
        yield
    except TrainingInputError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        write_failure_file(str(error), environ)
        raise SystemExit(1) from None
    except Exception as error:
        write_failure_file(f"{type(error).__name__}: {error}", environ)
        raise
