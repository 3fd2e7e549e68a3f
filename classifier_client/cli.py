"""Command line on top of the client: `python -m classifier_client classify "some text"`.

Texts come from the arguments, from --file (one per line) or from standard input ("-" or a pipe).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Iterable

from classifier_client.auth import auth_from_name
from classifier_client.client import Client
from classifier_client.errors import ClassifierError
from classifier_client.results import ClassifyResult

TEXT_WIDTH = 48


def format_table(result: ClassifyResult) -> str:
    """A plain-text table: one row per text with its labels and the scores returned (highest first)."""
    rows = [("#", "text", "labels", "scores")]
    for number, prediction in enumerate(result, start=1):
        text = " ".join(prediction.text.split())
        if len(text) > TEXT_WIDTH:
            text = text[: TEXT_WIDTH - 1] + "…"
        ranked = sorted(prediction.scores.items(), key=lambda item: -item[1])
        scores = " ".join(f"{label}={score:.2f}" for label, score in ranked)
        rows.append((str(number), text, ", ".join(prediction.labels) or "-", scores or "-"))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    if result.thresholds:
        lines.append("thresholds: " + " ".join(f"{label}={t:.2f}" for label, t in result.thresholds.items()))
    return "\n".join(lines)


def format_json(result: ClassifyResult) -> str:
    return json.dumps(dataclasses.asdict(result), indent=2, ensure_ascii=False)


def read_lines(stream: Iterable[str]) -> list[str]:
    """One text per line; blank lines are skipped (the API rejects blank texts)."""
    return [line.rstrip("\r\n") for line in stream if line.strip()]


def parse_thresholds(pairs: list[str]) -> dict[str, float]:
    """--label-threshold toxic=0.3 --label-threshold insult=0.6 -> {"toxic": 0.3, "insult": 0.6}."""
    thresholds = {}
    for pair in pairs:
        label, _, value = pair.partition("=")
        try:
            if not label:
                raise ValueError("no label")
            thresholds[label] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--label-threshold expects LABEL=NUMBER, got {pair!r}"
            ) from None
    return thresholds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m classifier_client", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    classify = commands.add_parser("classify", help="classify texts and print the predictions")
    classify.add_argument("texts", nargs="*", help='texts to classify ("-" reads standard input)')
    classify.add_argument("--file", help="read texts from this file, one per line ('-' for standard input)")
    classify.add_argument(
        "--url",
        default=os.environ.get("CLASSIFIER_API_URL"),
        help="API stage URL or the local front door's (default: $CLASSIFIER_API_URL)",
    )
    classify.add_argument(
        "--auth",
        choices=["iam", "api-key", "none"],
        default=os.environ.get("CLASSIFIER_AUTH", "iam"),
        help="iam: SigV4 with your AWS credentials; api-key: x-api-key header; none: local front door (default: iam)",
    )
    classify.add_argument(
        "--api-key", default=os.environ.get("CLASSIFIER_API_KEY"), help="($CLASSIFIER_API_KEY)"
    )
    classify.add_argument(
        "--region", help="signing region for --auth iam (default: from the URL or AWS config)"
    )
    classify.add_argument("--threshold", type=float, help="one threshold for every label")
    classify.add_argument(
        "--label-threshold",
        action="append",
        default=[],
        metavar="LABEL=T",
        help="per-label threshold (repeatable)",
    )
    classify.add_argument("--top-k", type=int, help="return the k highest scores")
    classify.add_argument("--all-scores", action="store_true", help="return every label's score")
    classify.add_argument("--output", choices=["table", "json"], default="table")
    classify.add_argument(
        "--max-attempts", type=int, default=5, help="tries per request on 429/5xx (default 5)"
    )
    return parser


def collect_texts(args: argparse.Namespace, stdin) -> list[str]:
    texts = [text for text in args.texts if text != "-"]
    if args.file == "-" or "-" in args.texts or (not args.texts and not args.file and not stdin.isatty()):
        texts += read_lines(stdin)
    if args.file and args.file != "-":
        with open(args.file, encoding="utf-8") as handle:
            texts += read_lines(handle)
    return texts


def main(argv: list[str] | None = None, stdin=None, stdout=None) -> int:
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("no API URL: pass --url or set CLASSIFIER_API_URL")
    try:
        label_thresholds = parse_thresholds(args.label_threshold)
        texts = collect_texts(args, stdin)
    except (argparse.ArgumentTypeError, OSError) as exc:
        parser.error(str(exc))
    if not texts:
        parser.error("no texts: pass them as arguments, with --file, or on standard input")
    try:
        with Client(
            args.url, auth_from_name(args.auth, args.api_key, args.region), max_attempts=args.max_attempts
        ) as client:
            result = client.classify(
                texts,
                thresholds=label_thresholds,
                threshold=args.threshold,
                top_k=args.top_k,
                return_all_scores=args.all_scores,
            )
    except (ClassifierError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_table(result) if args.output == "table" else format_json(result), file=stdout)
    return 0
