"""Local mode (`make demo`): the SageMaker layouts it builds, and the whole loop end to end."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest
import requests

from classifier_client import Client
from local.demo import (
    DEFAULT_DATA,
    JAVA_INSTALL_HINT,
    SAMPLE_TEXTS,
    WORK_DIR_MARKER,
    DemoOptions,
    WorkLayout,
    find_split_files,
    fingerprint,
    prepare_work_dir,
    sagemaker_environment,
    summarize_metrics,
    training_hyperparameters,
)
from tests.conftest import TINY_LABELS

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_work_dir_is_created_with_a_marker_and_a_foreign_non_empty_dir_is_refused(tmp_path):
    layout = prepare_work_dir(tmp_path / "work")
    assert (layout.root / WORK_DIR_MARKER).exists()
    assert prepare_work_dir(tmp_path / "work") == layout  # reusable
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    with pytest.raises(SystemExit, match="not created by local mode"):
        prepare_work_dir(foreign)
    assert (foreign / "notes.txt").read_text() == "precious"


def test_the_shipped_dataset_fills_three_channels_and_labels_txt_fixes_the_label_order():
    options = DemoOptions(base_model="base")
    assert find_split_files(options) == {
        split: DEFAULT_DATA / f"{split}.csv" for split in ("test", "train", "validation")
    }
    assert training_hyperparameters(options) == {
        "model_name_or_path": "base",
        "num_train_epochs": "3",
        "label_names_file": "labels.txt",
    }


def test_a_single_file_needs_validation_data(tmp_path):
    train = tmp_path / "comments.csv"
    train.write_text("text,labels\nhi,benign\n")
    with pytest.raises(SystemExit, match="no validation data"):
        find_split_files(DemoOptions(data=train, base_model="b"))
    validation = tmp_path / "held_out.csv"
    validation.write_text("text,labels\nyo,benign\n")
    assert find_split_files(DemoOptions(data=train, validation=validation, base_model="b")) == {
        "train": train,
        "validation": validation,
    }


def test_sagemaker_environment_points_every_path_into_the_work_dir(tmp_path):
    layout = WorkLayout(tmp_path)
    hyperparameters = {"model_name_or_path": str(tmp_path), "num_train_epochs": "1"}
    env = sagemaker_environment(layout, hyperparameters, ["train", "validation"])
    assert env["SM_MODEL_DIR"] == str(tmp_path / "opt/ml/model")
    assert env["SM_CHANNEL_TRAIN"] == str(tmp_path / "opt/ml/input/data/train")
    assert env["SM_CHANNEL_VALIDATION"] == str(tmp_path / "opt/ml/input/data/validation")
    assert "SM_CHANNEL_TEST" not in env
    assert json.loads(env["SM_HPS"]) == hyperparameters
    assert env["HF_HUB_OFFLINE"] == "1"  # a local base model: offline
    online = sagemaker_environment(layout, {"model_name_or_path": "org/some-model"}, ["train"])
    assert online["HF_HUB_OFFLINE"] == "0"  # a hub id: the one step that downloads


def test_changing_data_or_hyperparameters_changes_the_fingerprint(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "validation"):
        (data / f"{split}.csv").write_text("text,labels\nhi,benign\n")
    options = DemoOptions(data=data, base_model="b")
    before = fingerprint(find_split_files(options), options)
    assert fingerprint(find_split_files(options), DemoOptions(data=data, base_model="b")) == before
    assert fingerprint(find_split_files(options), DemoOptions(data=data, base_model="b", epochs=1)) != before
    (data / "train.csv").write_text("text,labels\nhello,benign\n")
    assert fingerprint(find_split_files(options), options) != before


def test_metrics_summary_has_the_headline_and_each_labels_threshold():
    metrics = {
        "eval_f1_macro": "0.61",
        "test_f1_macro": "0.58",
        "test_label_toxic_f1": "0.9",
        "test_label_toxic_threshold": "0.35",
        "eval_loss": "0.2",
    }
    summary = summarize_metrics(metrics, Path("/m"))
    assert "validation  f1_macro=0.61" in summary
    assert "test        f1_macro=0.58" in summary
    assert re.search(r"toxic\s+0\.35\s+0\.9", summary)


class LineReader:
    """Reads a process's stdout on a thread, so a test can wait for a line with a timeout."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(process.stdout,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        while True:
            line = self._queue.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"process ended before {pattern!r}:\n{''.join(self.lines[-80:])}")
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def rest(self) -> str:
        while (line := self._queue.get(timeout=120)) is not None:
            self.lines.append(line)
        return "".join(self.lines)


def demo_command(work_dir: Path, base_model: Path, *extra: str) -> list[str]:
    quick = [
        "max_seq_length=32",
        "per_device_train_batch_size=32",
        "per_device_eval_batch_size=64",
        "disable_tqdm=True",
    ]
    command = [
        sys.executable,
        "-m",
        "local.demo",
        "--work-dir",
        str(work_dir),
        "--base-model",
        str(base_model),
    ]
    command += ["--epochs", "1", "--port", "0", *extra]
    for hyperparameter in quick:
        command += ["--hyperparameter", hyperparameter]
    return command


@pytest.fixture(scope="module")
def first_demo_run(tmp_path_factory, tiny_bert_encoder_dir):
    """`make demo` on a fresh work dir (tiny BERT, one epoch): train, pack, serve on MMS, classify, stop."""
    work_dir = tmp_path_factory.mktemp("demo") / "work"
    completed = subprocess.run(
        demo_command(work_dir, tiny_bert_encoder_dir),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-5000:]
    return work_dir, completed.stdout


@pytest.mark.slow
def test_demo_trains_packs_serves_on_mms_classifies_through_the_front_door_and_stops(first_demo_run):
    work_dir, output = first_demo_run
    assert "Training (nothing built yet)" in output
    assert "Metrics (every one in" in output and "validation  f1_macro=" in output
    assert "Multi Model Server (Java)" in output
    table = output[output.index("Classifying") :]
    for text in SAMPLE_TEXTS:
        assert text[:40] in table  # each sample went through the client and the front door
    assert "HTTP 400 invalid_request: inputs[0]" in table
    assert output.rstrip().endswith("Stopped the front door and the model server")

    # SageMaker's layouts: the channels, the job's model dir, model.tar.gz with the artifact at its root.
    layout = WorkLayout(work_dir)
    assert (layout.channel("train") / "train.csv").read_bytes() == (DEFAULT_DATA / "train.csv").read_bytes()
    assert (layout.channel("train") / "labels.txt").exists()
    assert (layout.channel("validation") / "validation.csv").exists()
    assert (
        json.loads((layout.opt_ml / "input/config/hyperparameters.json").read_text())["num_train_epochs"]
        == "1"
    )
    with tarfile.open(layout.tarball) as archive:
        names = set(archive.getnames())
    assert {"config.json", "model.safetensors", "thresholds.json", "code/inference.py"} <= names
    assert (layout.endpoint_model_dir / "code" / "inference.py").exists()


@pytest.mark.slow
def test_rerun_reuses_the_model_and_keeps_serving_the_handler_without_java(
    first_demo_run, tiny_bert_encoder_dir
):
    work_dir, _ = first_demo_run
    built = WorkLayout(work_dir).tarball.stat().st_mtime_ns
    no_java_path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "java").exists()
    )
    process = subprocess.Popen(
        demo_command(work_dir, tiny_bert_encoder_dir, "--keep-serving"),
        cwd=REPO_ROOT,
        env={**os.environ, "PATH": no_java_path},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    reader = LineReader(process)
    try:
        backend = reader.wait_for(r"Front door on (\S+)/classify -> model server (\S+)/invocations", 600)
        url = reader.wait_for(r"Serving on (\S+)/classify until Ctrl-C", 300).group(1)
        assert url == backend.group(1)
        result = Client(url).classify(["you are an idiot", "thanks, great article"], return_all_scores=True)
        assert [p.text for p in result] == ["you are an idiot", "thanks, great article"]
        assert all(set(p.scores) == set(TINY_LABELS) and set(p.labels) <= set(TINY_LABELS) for p in result)
        assert set(result.thresholds) == set(TINY_LABELS)
        assert requests.get(url + "/classify", timeout=10).json()["error"] == "missing_authentication"
    finally:
        process.send_signal(signal.SIGTERM)  # as Ctrl-C: a clean stop
        output = reader.rest()
        process.wait(timeout=120)
    assert process.returncode == 0, output[-5000:]
    assert "Model already trained with these inputs: reusing" in output
    assert WorkLayout(work_dir).tarball.stat().st_mtime_ns == built
    assert JAVA_INSTALL_HINT in output
    assert "handler without Java (no MMS frontend)" in output
    assert output.rstrip().endswith("Stopped the front door and the model server")
    for stopped in (url, backend.group(2)):
        with pytest.raises(requests.ConnectionError):
            requests.get(stopped + "/ping", timeout=5)
