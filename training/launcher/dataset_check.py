"""Is this dataset trainable? Checked before any GPU money is spent, from a listing and the first 64 KiB.

Pure functions: the handler lists the dataset prefix and fetches each file's head with a ranged GET
(`Range: bytes=0-65535`), these functions decide. Each problem is one readable line for the uploader.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass

from job_request import MANIFEST_NAME, REJECTION_NAME

#: How much of each file the launcher reads: enough for a header line or a first JSON record.
HEAD_BYTES = 65536
HEAD_RANGE = f"bytes=0-{HEAD_BYTES - 1}"
SPLITS = ("train", "validation", "test")
REQUIRED_SPLITS = ("train", "validation")
FORMATS = {"csv": "csv", "tsv": "tsv", "json": "json", "jsonl": "json"}
#: Columns training/train.py looks for when none are named (any one of each group will do).
DEFAULT_TEXT_COLUMNS = ("text", "sentence")
DEFAULT_LABEL_COLUMNS = ("label", "labels")


@dataclass(frozen=True)
class DataObject:
    """One S3 object under the dataset prefix, as listed."""

    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class SplitFile:
    split: str
    key: str
    size: int
    etag: str

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def format(self) -> str:
        return FORMATS[self.file_name.rsplit(".", 1)[-1]]


def select_split_files(
    objects: list[DataObject], prefix: str, label_names_file: str | None = None
) -> tuple[dict[str, SplitFile], list[str]]:
    """Find `<split>.<csv|tsv|json|jsonl>` directly under `prefix`; return them and the problems found."""
    problems: list[str] = []
    found: dict[str, list[DataObject]] = {split: [] for split in SPLITS}
    for obj in objects:
        name = obj.key[len(prefix) :]
        stem, _, extension = name.rpartition(".")
        if "/" not in name and stem in found and extension in FORMATS:
            found[stem].append(obj)
    files: dict[str, SplitFile] = {}
    for split in SPLITS:
        candidates = found[split]
        if len(candidates) > 1:
            names = sorted(c.key[len(prefix) :] for c in candidates)
            problems.append(f"{split}: several files {names}; keep exactly one {split}.<csv|tsv|json|jsonl>")
        elif candidates:
            obj = candidates[0]
            files[split] = SplitFile(split=split, key=obj.key, size=obj.size, etag=obj.etag)
        elif split in REQUIRED_SPLITS:
            problems.append(
                f"{split}: no {split}.csv, {split}.tsv, {split}.json or {split}.jsonl under {prefix}"
            )
    for split_file in files.values():
        if split_file.size == 0:
            problems.append(f"{split_file.split}: {split_file.file_name} is empty (0 bytes)")
        # A channel is an S3 prefix: another key starting with this one would be fed to the job too.
        shadows = sorted(
            obj.key[len(prefix) :]
            for obj in objects
            if obj.key != split_file.key and obj.key.startswith(split_file.key)
        )
        if shadows:
            problems.append(
                f"{split_file.split}: {shadows} start with {split_file.file_name!r} and would be read as "
                f"part of the {split_file.split} channel; rename or move them"
            )
    if label_names_file is not None:
        names_file = next((o for o in objects if o.key == prefix + label_names_file), None)
        if names_file is None:
            problems.append(f"label_names_file {label_names_file!r} not found under {prefix}")
        elif names_file.size == 0:
            problems.append(f"label_names_file {label_names_file!r} is empty (0 bytes)")
    return files, problems


def ignored_objects(objects: list[DataObject], prefix: str, files: dict[str, SplitFile]) -> list[str]:
    """Objects in the dataset folder that the job will not read (reported, so a misnamed file is noticed)."""
    used = {f.key for f in files.values()} | {prefix + MANIFEST_NAME, prefix + REJECTION_NAME}
    return sorted(o.key[len(prefix) :] for o in objects if o.key not in used)


def required_columns(
    text_columns: tuple[str, ...] | None,
    label_column: str | None,
    multi_hot_label_columns: tuple[str, ...] | None,
) -> list[tuple[str, ...]]:
    """The columns every data file needs: each tuple is one requirement, met by any of its names."""
    text = [(c,) for c in text_columns] if text_columns else [DEFAULT_TEXT_COLUMNS]
    if multi_hot_label_columns:
        return text + [(c,) for c in multi_hot_label_columns]
    return [*text, (label_column,) if label_column else DEFAULT_LABEL_COLUMNS]


def column_problems(split_file: SplitFile, head: bytes, required: list[tuple[str, ...]]) -> list[str]:
    """Check the header (CSV/TSV) or first record (JSON Lines) of a file from its first bytes."""
    whole_file = len(head) >= split_file.size
    where = f"{split_file.split}: {split_file.file_name}"
    try:
        if split_file.format == "json":
            columns, has_rows = _json_columns(head, whole_file)
        else:
            columns, has_rows = _delimited_columns(
                head, "\t" if split_file.format == "tsv" else ",", whole_file
            )
    except _UnreadableHead as error:
        return [f"{where}: {error}"]
    problems = []
    missing = [names[0] for names in required if len(names) == 1 and names[0] not in columns]
    if missing:
        problems.append(f"{where}: missing column(s) {missing}; found {columns}")
    for names in required:
        if len(names) > 1 and not set(names) & set(columns):
            problems.append(
                f"{where}: no column named {' or '.join(names)} (name the columns in the manifest); found {columns}"
            )
    if not has_rows:
        problems.append(f"{where}: has a header but no data rows")
    return problems


def parse_label_names(content: bytes, file_name: str) -> tuple[list[str], list[str]]:
    """One label per line; returns (names, problems)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [f"label_names_file {file_name!r} is not UTF-8 text"]
    names = [line.strip() for line in text.splitlines() if line.strip()]
    problems = []
    if not names:
        problems.append(f"label_names_file {file_name!r} has no label names (one per line)")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"label_names_file {file_name!r} repeats {duplicates}")
    return names, problems


class _UnreadableHead(ValueError):
    pass


def _first_line(head: bytes, whole_file: bool) -> tuple[str, str]:
    """Split the head into (first line, rest), decoding only complete text."""
    newline = head.find(b"\n")
    if newline < 0 and not whole_file:
        raise _UnreadableHead(
            f"no line break in the first {HEAD_BYTES} bytes: header or first record too long"
        )
    line, rest = (head, b"") if newline < 0 else (head[:newline], head[newline + 1 :])
    try:
        return line.decode("utf-8-sig").rstrip("\r"), rest.decode("utf-8", errors="ignore")
    except UnicodeDecodeError:
        raise _UnreadableHead("the first line is not UTF-8 text") from None


def _delimited_columns(head: bytes, delimiter: str, whole_file: bool) -> tuple[list[str], bool]:
    header, rest = _first_line(head, whole_file)
    columns = next(csv.reader([header], delimiter=delimiter), [])
    if not any(c.strip() for c in columns):
        raise _UnreadableHead("the first line (the header) is empty")
    return [c.strip() for c in columns], (not whole_file) or bool(rest.strip())


def _json_columns(head: bytes, whole_file: bool) -> tuple[list[str], bool]:
    text = head.lstrip()
    if text.startswith(b"["):
        raise _UnreadableHead("is a JSON array; write one JSON object per line (JSON Lines) instead")
    first, _ = _first_line(text, whole_file)
    try:
        record = json.loads(first)
    except json.JSONDecodeError as error:
        raise _UnreadableHead(f"the first line is not a JSON object ({error.msg})") from None
    if not isinstance(record, dict):
        raise _UnreadableHead(f"the first line is a JSON {type(record).__name__}, expected an object")
    return list(record), True
