"""The training benchmark's bookkeeping: a run that outlives its machine is resumed, and its throughput still counts
only the training that reached the end (bench/train_goemotions.py). The benchmark itself needs GoEmotions; here it
runs on a small dataset in GoEmotions' layout written by the test, with the tiny BERT."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest

from bench.train_goemotions import parse_segment, training_time
from tests.conftest import TINY_LABELS
from tests.support.training import REPO_ROOT
from training.train import last_complete_checkpoint

STARTED = datetime(2026, 11, 26, 3, 0, 0).timestamp()


def transformers_line(seconds_after_start: float, message: str) -> str:
    moment = datetime.fromtimestamp(STARTED + seconds_after_start).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    return f"[INFO|trainer.py:2405] {moment} >> {message}"


def bench_line(event: str, seconds_after_start: float, load: float) -> str:
    moment = datetime.fromtimestamp(STARTED + seconds_after_start).isoformat(timespec="seconds")
    return f"[bench] {event} at {moment}, load average {load:.2f}"


#: A first process, stopped 700 s into its training after saving checkpoints 250 (at 300 s) and 500 (at 600 s).
STOPPED_LOG = "\n".join(
    [
        bench_line("started", 0, 1.5),
        "11/26/2026 03:00:01 - WARNING - __main__ - Process rank: 0, device: cpu",
        transformers_line(20, "***** Running training *****"),
        "{'loss': 0.6862, 'grad_norm': 0.3, 'learning_rate': 1e-05, 'epoch': 0.03}",
        transformers_line(320, "Saving model checkpoint to out/model-checkpoints/checkpoint-250"),
        transformers_line(620, "Saving model checkpoint to out/model-checkpoints/checkpoint-500"),
    ]
)
#: The next process: resumed from checkpoint 500 and ran to the end in 400 s of training.
RESUMED_LOG = "\n".join(
    [
        bench_line("started", 1000, 0.5),
        transformers_line(1030, "***** Running training *****"),
        transformers_line(1030, "  Continuing training from global step 500"),
        transformers_line(1300, "Saving model checkpoint to out/model-checkpoints/checkpoint-750"),
        "train_runtime=400.000000",
        "train_samples_per_second=30.000000",
        bench_line("finished", 1500, 0.7),
    ]
)


def test_a_stopped_process_counts_up_to_the_checkpoint_the_next_one_resumed_from():
    stopped = parse_segment(STOPPED_LOG, last_write=STARTED + 710, log="train.log")
    resumed = parse_segment(RESUMED_LOG, last_write=STARTED + 1500, log="train.2.log")
    assert (stopped.start_step, stopped.train_runtime_s, stopped.load_before, stopped.load_after) == (
        0,
        None,
        1.5,
        None,
    )
    assert stopped.checkpoints_saved_at == {250: STARTED + 320, 500: STARTED + 620}
    assert stopped.wall_s == pytest.approx(710)
    assert (resumed.start_step, resumed.train_runtime_s, resumed.load_before, resumed.load_after) == (
        500,
        400.0,
        0.5,
        0.7,
    )
    # 600 s from the first loop's start to checkpoint 500 (the 90 s after it were lost), plus the last 400 s.
    assert training_time([stopped, resumed], max_steps=1000) == pytest.approx(1000)


def test_a_process_stopped_before_its_first_checkpoint_adds_nothing():
    stopped = parse_segment(STOPPED_LOG, last_write=STARTED + 710, log="train.log")
    lost = parse_segment(
        "\n".join(
            [
                transformers_line(800, "***** Running training *****"),
                transformers_line(800, "  Continuing training from global step 500"),
            ]
        ),
        last_write=STARTED + 900,
        log="train.2.log",
    )
    resumed = parse_segment(RESUMED_LOG, last_write=STARTED + 1500, log="train.3.log")
    assert training_time([stopped, lost, resumed], max_steps=1000) == pytest.approx(1000)


def test_a_single_finished_process_is_the_trainers_own_runtime():
    finished = parse_segment(
        "\n".join([transformers_line(5, "***** Running training *****"), "train_runtime=3909.5964"]),
        last_write=STARTED + 4000,
    )
    assert training_time([finished], max_steps=4071) == pytest.approx(3909.5964)


@pytest.mark.parametrize(
    "logs, message",
    [
        ([], "started at step 0 and ran to its end"),
        ([STOPPED_LOG], "started at step 0 and ran to its end"),  # never finished
        ([RESUMED_LOG], "started at step 0 and ran to its end"),  # the first process is missing
        (
            [STOPPED_LOG.replace("checkpoint-500", "checkpoint-400"), RESUMED_LOG],
            "train.2.log resumed from step 500, which train.1.log (from step 0) did not save",
        ),
    ],
)
def test_logs_that_do_not_chain_are_refused_with_the_logs_named(logs, message):
    segments = [
        parse_segment(text, last_write=STARTED + 2000, log=f"train.{number}.log")
        for number, text in enumerate(logs, start=1)
    ]
    with pytest.raises(ValueError, match=re.escape(message)):
        training_time(segments, max_steps=1000)


def test_only_a_completely_written_checkpoint_is_resumed_from(tmp_path):
    """The Trainer writes trainer_state.json last: a job stopped while saving leaves a checkpoint without it."""
    assert last_complete_checkpoint(tmp_path / "absent") is None
    for step, complete in [(250, True), (500, True), (750, False)]:
        checkpoint = tmp_path / f"checkpoint-{step}"
        checkpoint.mkdir()
        if complete:
            (checkpoint / "trainer_state.json").write_text("{}", encoding="utf-8")
    (tmp_path / "checkpoint-final").mkdir()
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-500")


def write_goemotions_layout(directory):
    """TSV without header (text, comma-separated label ids, comment id) and emotions.txt, as GoEmotions ships."""
    directory.mkdir()
    (directory / "emotions.txt").write_text("\n".join(TINY_LABELS) + "\n", encoding="utf-8")
    for split, rows in [("train", 64), ("dev", 24), ("test", 24)]:
        lines = []
        for row in range(rows):
            ids = sorted({row % len(TINY_LABELS), (row * 5 + 1) % len(TINY_LABELS)})
            words = " ".join(TINY_LABELS[i] for i in ids)
            lines.append(f"{split} comment {row} sounds {words}\t{','.join(map(str, ids))}\t{split}{row}")
        (directory / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def bench_command(data_dir, model_dir, output_dir, *extra):
    return [
        sys.executable,
        "-m",
        "bench.train_goemotions",
        "--data-dir",
        str(data_dir),
        "--model",
        str(model_dir),
        "--output-dir",
        str(output_dir),
        "--max-steps",
        "40",
        "--checkpoint-steps",
        "4",
        "--batch-size",
        "4",
        "--max-seq-length",
        "32",
        *extra,
    ]


def offline_environment():
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def run_bench(command):
    return subprocess.run(
        command, cwd=REPO_ROOT, env=offline_environment(), capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_a_run_stopped_mid_baseline_resumes_and_reports_both_processes(tmp_path, tiny_bert_encoder_dir):
    """The real benchmark, killed (as a machine going away kills it) once the baseline has a checkpoint, resumed."""
    data_dir = write_goemotions_layout(tmp_path / "goemotions")
    output_dir = tmp_path / "bench"
    command = bench_command(data_dir, tiny_bert_encoder_dir, output_dir)
    # Left by an earlier attempt stopped before any complete checkpoint: a half-written one and its log.
    half_written = output_dir / "run_glue-style-baseline" / "model-checkpoints" / "checkpoint-999"
    half_written.mkdir(parents=True)
    (output_dir / "run_glue-style-baseline" / "train.7.log").write_text("stopped early\n", encoding="utf-8")
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=offline_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    baseline_checkpoints = output_dir / "run_glue-style-baseline" / "model-checkpoints"
    deadline = time.monotonic() + 300
    while last_complete_checkpoint(baseline_checkpoints) is None and process.poll() is None:
        assert time.monotonic() < deadline, "the baseline saved no checkpoint in 5 minutes"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (output_dir / "run_glue-style-baseline" / "model").exists(), (
        "the baseline finished before the kill"
    )

    refused = run_bench(command)
    assert refused.returncode != 0
    assert f"{output_dir} already holds a run: pass --resume" in refused.stderr

    other_options = run_bench([*command, "--resume", "--learning-rate", "0.001"])
    assert other_options.returncode != 0
    assert "was started with other training arguments" in other_options.stderr

    resumed = run_bench([*command, "--resume"])
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "[bench] entry point: finished earlier, kept" in resumed.stdout
    runs = {run["variant"]: run for run in json.loads((output_dir / "results.json").read_text())["runs"]}
    assert runs["entry point"]["processes"] == 1
    assert runs["run_glue-style baseline"]["processes"] == 2
    assert [os.path.basename(log) for log in runs["run_glue-style baseline"]["logs"]] == [
        "train.log",
        "train.2.log",
    ]
    for run in runs.values():
        assert run["train_samples_per_second"] == pytest.approx(40 * 4 / run["train_runtime_s"])
        assert 0 < run["train_runtime_s"] < run["wall_s"]
    assert not half_written.exists()
    assert "| run_glue-style baseline, 0.5 |" in (output_dir / "results.md").read_text(encoding="utf-8")
