"""make bench-inference: the inference handler against its bound and against the toolkit's default handler.

Same process, same model, same texts, requests interleaved round-robin (so a noisy shared machine slows all three
alike):
  (a) bound    tokenizer + model forward + sigmoid on the request's texts, nothing else;
  (b) handler  inference/inference.py through its hooks: JSON body -> input_fn -> predict_fn -> output_fn -> JSON;
  (c) toolkit  the SageMaker Hugging Face toolkit's default handler (HF_TASK=text-classification, top_k=None:
               every label's score), through its preprocess -> predict -> postprocess.
Single-text requests and 32-text requests; texts/s, p50/p99 latency, ratios b/a and b/c.

Model: the GoEmotions model of the training benchmark when it exists (--model-dir, default GOEMOTIONS_MODEL_DIR),
else the pretrained MiniLM with a fresh 28-label multi-label head. Texts: the GoEmotions test set from
$GOEMOTIONS_DIR or ../shared/data when present, else the shipped moderation examples. On a GPU, the handler runs in
float16.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench.goemotions import GOEMOTIONS_DIR

REPO = Path(__file__).resolve().parents[1]
#: Where the training benchmark leaves its fine-tuned GoEmotions model (a model artifact directory).
GOEMOTIONS_MODEL_DIR = REPO / "build" / "bench" / "goemotions-model"
SHIPPED_TEXTS = REPO / "examples" / "data" / "moderation" / "test.csv"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_texts() -> tuple[list[str], str]:
    if (GOEMOTIONS_DIR / "test.tsv").exists():
        with (GOEMOTIONS_DIR / "test.tsv").open(encoding="utf-8") as rows:
            return [
                row[0] for row in csv.reader(rows, delimiter="\t", quoting=csv.QUOTE_NONE)
            ], "GoEmotions test set"
    with SHIPPED_TEXTS.open(encoding="utf-8") as rows:
        return [row["text"] for row in csv.DictReader(rows)], "shipped moderation examples (examples/data)"


def build_minilm_classifier(directory: Path) -> Path:
    """The pretrained MiniLM with a fresh 28-label multi-label head (GoEmotions' labels when available)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tests.support.models import MINILM_DIR

    names_file = GOEMOTIONS_DIR / "emotions.txt"
    labels = names_file.read_text().split() if names_file.exists() else [f"label_{i}" for i in range(28)]
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        MINILM_DIR,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        problem_type="multi_label_classification",
    )
    model.save_pretrained(directory, safe_serialization=True)
    AutoTokenizer.from_pretrained(MINILM_DIR).save_pretrained(directory)
    return directory


def bound_variant(classifier) -> Callable[[list[str]], object]:
    """(a): what any handler must do at least."""
    tokenizer, model, device = classifier.tokenizer, classifier.model, classifier.device

    def run(texts: list[str]):
        inputs = tokenizer(
            texts, padding=True, truncation=True, max_length=classifier.max_length, return_tensors="pt"
        ).to(device)
        with torch.inference_mode():
            return torch.sigmoid(model(**inputs).logits.float()).cpu().numpy()

    return run


def handler_variant(handler, classifier) -> Callable[[list[str]], object]:
    """(b): the body in, the body out, through the hooks the toolkit calls."""

    def run(texts: list[str]):
        body = json.dumps({"inputs": texts, "parameters": {"return_all_scores": True}}).encode()
        data = handler.input_fn(body, "application/json")
        return handler.output_fn(handler.predict_fn(data, classifier), "application/json")

    return run


def toolkit_variant(model_dir: Path) -> Callable[[list[str]], object]:
    """(c): the toolkit's default handler on the same model directory (no code/inference.py involved)."""
    os.environ["HF_TASK"] = "text-classification"
    from sagemaker_huggingface_inference_toolkit.handler_service import HuggingFaceHandlerService

    service = HuggingFaceHandlerService()
    service.device = 0 if torch.cuda.is_available() else -1
    pipeline = service.load(str(model_dir))

    def run(texts: list[str]):
        body = json.dumps({"inputs": texts, "parameters": {"top_k": None}})
        return service.postprocess(
            service.predict(service.preprocess(body, "application/json"), pipeline), "application/json"
        )

    return run


def check_same_scores(
    handler_output: str, toolkit_output: str, bound_scores: np.ndarray, labels: list[str], atol: float
) -> None:
    """The three variants do the same work: every label's score of every text, equal to the bound's (within atol:
    on a GPU the handler runs in float16 and the toolkit's pipeline in float32)."""
    ours = json.loads(handler_output)["predictions"]
    theirs = json.loads(toolkit_output)
    for row, prediction, pipeline_scores in zip(bound_scores, ours, theirs, strict=True):
        expected = dict(zip(labels, row.tolist(), strict=True))
        toolkit_scores = {item["label"]: item["score"] for item in pipeline_scores}
        for scores in (prediction["scores"], toolkit_scores):
            assert scores.keys() == expected.keys()
            np.testing.assert_allclose([scores[k] for k in expected], list(expected.values()), atol=atol)


def measure(variants: dict[str, Callable], requests: list[list[str]]) -> dict[str, list[float]]:
    """Latency of every request for every variant, interleaved (order rotates per request)."""
    latencies: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for index, texts in enumerate(requests):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            started = time.perf_counter()
            variants[name](texts)
            latencies[name].append(time.perf_counter() - started)
    return latencies


def summary(latencies: list[float], texts_per_request: int) -> dict[str, float]:
    return {
        "texts_per_s": texts_per_request * len(latencies) / sum(latencies),
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
    }


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    device = (
        torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else f"CPU, {torch.get_num_threads()} torch threads"
    )
    return f"{device}; {cpu}, {os.cpu_count()} cores; torch {torch.__version__}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=GOEMOTIONS_MODEL_DIR)
    parser.add_argument("--single-requests", type=int, default=150, help="single-text requests per variant")
    parser.add_argument("--batch-requests", type=int, default=20, help="32-text requests per variant")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--warm-up-requests",
        type=int,
        default=10,
        help="single-text and batch requests per variant, unmeasured",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads for all variants (default 1: on a shared CPU, spinning threads distort)",
    )
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from inference import inference as handler

    texts, texts_source = load_texts()
    with tempfile.TemporaryDirectory() as scratch:
        if (args.model_dir / "config.json").exists():
            model_dir, model_source = args.model_dir, f"fine-tuned GoEmotions model ({args.model_dir})"
        else:
            model_dir, model_source = (
                build_minilm_classifier(Path(scratch)),
                "MiniLM-L6 + fresh 28-label head",
            )
        classifier = handler.model_fn(str(model_dir))
        variants = {
            "a": bound_variant(classifier),
            "b": handler_variant(handler, classifier),
            "c": toolkit_variant(model_dir),
        }
        sample = texts[: args.batch_size]
        half = next(classifier.model.parameters()).dtype in (torch.float16, torch.bfloat16)
        check_same_scores(
            variants["b"](sample),
            variants["c"](sample),
            variants["a"](sample),
            classifier.labels,
            atol=1e-2 if half else 2e-3,
        )
        # Warm-up on texts of many lengths: a GPU picks and caches kernels per input shape on first sight.
        warm_up = texts[-args.warm_up_requests * args.batch_size :]
        measure(
            variants,
            [[text] for text in warm_up[: args.warm_up_requests]]
            + [warm_up[i : i + args.batch_size] for i in range(0, len(warm_up), args.batch_size)],
        )
        rng = np.random.default_rng(0)
        shuffled = [texts[i] for i in rng.permutation(len(texts))]
        cycle = shuffled * (1 + (args.batch_requests * args.batch_size) // len(shuffled))
        singles = [[text] for text in cycle[: args.single_requests]]
        batches = [cycle[i * args.batch_size : (i + 1) * args.batch_size] for i in range(args.batch_requests)]
        results = {
            "single": {name: summary(lat, 1) for name, lat in measure(variants, singles).items()},
            f"batch{args.batch_size}": {
                name: summary(lat, args.batch_size) for name, lat in measure(variants, batches).items()
            },
        }
    report(results, model_source, texts_source, len(texts), classifier, args)
    if args.output:
        args.output.write_text(json.dumps({"machine": machine(), "results": results}, indent=2) + "\n")


def report(results, model_source, texts_source, text_count, classifier, args) -> None:
    dtype = str(next(classifier.model.parameters()).dtype).removeprefix("torch.")
    print(f"Machine: {machine()}")
    print(
        f"Model: {model_source}; handler on {classifier.device}, {dtype}; texts: {texts_source} ({text_count})"
    )
    print(
        f"Requests per variant: {args.single_requests} single-text, {args.batch_requests} x {args.batch_size}-text\n"
    )
    print("| request | variant | texts/s | p50 ms | p99 ms |")
    print("|---|---|---:|---:|---:|")
    names = {"a": "(a) bound", "b": "(b) handler", "c": "(c) toolkit default"}
    for request, by_variant in results.items():
        for name, stats in by_variant.items():
            print(
                f"| {request} | {names[name]} | {stats['texts_per_s']:.1f} | {stats['p50_ms']:.2f} | {stats['p99_ms']:.2f} |"
            )
    print()
    for request, by_variant in results.items():
        a, b, c = (by_variant[name] for name in "abc")
        print(
            f"{request}: throughput b/a = {b['texts_per_s'] / a['texts_per_s']:.2f}, b/c = {b['texts_per_s'] / c['texts_per_s']:.2f}; "
            f"p50 b/a = {b['p50_ms'] / a['p50_ms']:.2f}"
        )


if __name__ == "__main__":
    main()
