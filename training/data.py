"""Read the training data in every layout the entry point accepts, and turn its labels into multi-hot vectors.

Files are parsed here rather than with `datasets.load_dataset` so that every problem is reported with its file,
line and column (one clear error, not a traceback), and so that parsing does not depend on the datasets version
of the training DLC.

Accepted files: CSV and TSV (a header line, or `column_names`), JSON (an array of objects, or JSON Lines) and JSON
Lines. Text: one column or several, joined. Labels: one column of label names or ids separated by a delimiter
(`insult|threat`, `3,15`) or holding a JSON list, or one 0/1 column per label (multi-hot). Label names come from
the data or from a names file (line N names label id N).
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training import sagemaker_env
from training.arguments import DataTrainingArguments, split_names
from training.errors import DataError, TrainingInputError

DELIMITED_SUFFIXES = {".csv": ",", ".tsv": "\t"}
DATA_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl")
DEFAULT_TEXT_COLUMNS = ("text", "sentence")
DEFAULT_LABEL_COLUMNS = ("label", "labels")
DEFAULT_LABEL_DELIMITERS = re.compile(r"[|,;]")
INTEGER = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Record:
    number: int  # line in the file (CSV, TSV, JSON Lines) or position in a JSON array, from 1
    values: Mapping[str, Any]


@dataclass(frozen=True)
class DataFile:
    """A parsed file: its columns and its records, each remembering where it came from."""

    path: Path
    columns: tuple[str, ...]
    records: tuple[Record, ...]
    location: str = "line"  # what Record.number counts: "line", or "record" for a JSON array
    has_header: bool = False

    def error(self, problem: str, record: Record | None = None, column: str | None = None) -> DataError:
        line = record.number if record is not None else None
        return DataError(self.path, problem, line=line, column=column, location=self.location)


@dataclass(frozen=True)
class DataLayout:
    """Where the text and the labels are; the same for the training, validation and test files."""

    text_columns: tuple[str, ...]
    text_delimiter: str = " "
    label_column: str | None = None
    multi_hot_columns: tuple[str, ...] = ()
    label_delimiter: str | None = None
    label_names: tuple[str, ...] | None = (
        None  # from the names file: label id N is label_names[N - first_label_id]
    )
    names_file: Path | None = None
    first_label_id: int = 0

    @property
    def label_columns(self) -> tuple[str, ...]:
        return self.multi_hot_columns or (self.label_column,)


@dataclass(frozen=True)
class Split:
    """One split: each example's text and label names."""

    path: Path
    texts: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, count: int | None) -> Split:
        return self if count is None else replace(self, texts=self.texts[:count], labels=self.labels[:count])

    def multi_hot(self, label_names: Sequence[str]) -> np.ndarray:
        """(examples x labels) float32 matrix, 1 where the example has the label."""
        index = {name: position for position, name in enumerate(label_names)}
        matrix = np.zeros((len(self.labels), len(label_names)), dtype=np.float32)
        for row, labels in enumerate(self.labels):
            matrix[row, [index[label] for label in labels]] = 1.0
        return matrix


@dataclass(frozen=True)
class LabelledData:
    label_names: tuple[str, ...]
    layout: DataLayout
    train: Split
    validation: Split
    test: Split | None


def load_data(data_args: DataTrainingArguments, environ: Mapping[str, str] = os.environ) -> LabelledData:
    """Read and check every split; the label set comes from the names file, the 0/1 columns or the training data."""
    if not data_args.train_file:
        raise TrainingInputError(
            "no training data: set train_file (on SageMaker: give the job a `train` channel)"
        )
    if not data_args.validation_file:
        raise TrainingInputError(
            "no validation data: set validation_file (on SageMaker: a `validation` channel); the best checkpoint "
            "and the per-label thresholds are chosen on it"
        )
    column_names = split_names(data_args.column_names)
    train_file = read_data_file(locate_data_file(data_args.train_file, "train_file", environ), column_names)
    layout = resolve_layout(train_file, data_args)
    train = parse_split(train_file, layout)
    label_names = layout.label_names or layout.multi_hot_columns or labels_seen(train, layout)

    def evaluation_split(value: str, argument: str) -> Split:
        data_file = read_data_file(locate_data_file(value, argument, environ), column_names)
        return parse_split(data_file, layout, known_labels=label_names, train_path=train.path)

    validation = evaluation_split(data_args.validation_file, "validation_file")
    test = evaluation_split(data_args.test_file, "test_file") if data_args.test_file else None
    return LabelledData(
        label_names=tuple(label_names),
        layout=layout,
        train=train.head(data_args.max_train_samples),
        validation=validation.head(data_args.max_eval_samples),
        test=test.head(data_args.max_predict_samples) if test else None,
    )


def locate_data_file(value: str, argument: str, environ: Mapping[str, str] = os.environ) -> Path:
    """The data file named by a hyperparameter: a file, or a directory (a SageMaker channel) holding one.

    A relative name that does not exist here is looked up in the split's SageMaker channel, so that
    `--train_file train.csv` works in a training job as it does locally.
    """
    path = Path(value)
    channel = sagemaker_env.channel_dir(argument, environ)
    if not path.exists() and not path.is_absolute() and channel is not None and (channel / path).exists():
        path = channel / path
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)
        split_name = argument.removesuffix("_file")
        named_after_split = [p for p in candidates if p.stem == split_name]
        candidates = named_after_split or candidates
        if len(candidates) != 1:
            found = ", ".join(p.name for p in candidates) or "none"
            raise DataError(
                path,
                f"expected one data file (.csv, .tsv, .json or .jsonl) in this directory, found: {found}",
            )
        path = candidates[0]
    if not path.is_file():
        raise DataError(path, f"{argument}: file not found")
    return path


def read_data_file(path: Path, column_names: Sequence[str] = ()) -> DataFile:
    """Parse a CSV, TSV, JSON or JSON Lines file into records (no interpretation of the values yet)."""
    suffix = path.suffix.lower()
    if suffix in DELIMITED_SUFFIXES:
        data_file = _read_delimited(path, DELIMITED_SUFFIXES[suffix], tuple(column_names))
    elif suffix in (".json", ".jsonl"):
        data_file = _read_json(path)
    else:
        raise DataError(
            path, f"unsupported file type {suffix or '(none)'!r}: use .csv, .tsv, .json or .jsonl"
        )
    if not data_file.records:
        raise data_file.error("no data rows" + (" after the header line" if data_file.has_header else ""))
    return data_file


def _read_delimited(path: Path, delimiter: str, column_names: tuple[str, ...]) -> DataFile:
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        first_line = 1
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append((first_line, row))
                first_line = reader.line_num + 1
        except csv.Error as error:
            raise DataError(path, f"unreadable {path.suffix[1:].upper()}: {error}", line=first_line) from None
    columns = column_names
    has_header = not column_names and bool(rows)
    if has_header:
        header_line, header = rows.pop(0)
        columns = tuple(name.strip() for name in header)
        duplicates = sorted({name for name in columns if columns.count(name) > 1})
        if duplicates:
            raise DataError(
                path, f"duplicate column name(s) in the header: {', '.join(duplicates)}", line=header_line
            )
    records = []
    for number, row in rows:
        if len(row) != len(columns):
            raise DataError(
                path,
                f"has {len(row)} fields, expected {len(columns)} (columns: {', '.join(columns)})",
                line=number,
            )
        records.append(Record(number, dict(zip(columns, row, strict=True))))
    return DataFile(path, columns, tuple(records), has_header=has_header)


def _read_json(path: Path) -> DataFile:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(path, f"invalid JSON: {error.msg}", line=error.lineno) from None
        numbered, location = list(enumerate(items, start=1)), "record"
    else:
        numbered, location = [], "line"
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                try:
                    numbered.append((number, json.loads(line)))
                except json.JSONDecodeError as error:
                    raise DataError(path, f"invalid JSON: {error.msg}", line=number) from None
    columns: dict[str, None] = {}
    records = []
    for number, item in numbered:
        if not isinstance(item, dict):
            raise DataError(
                path, f"expected a JSON object, got {type(item).__name__}", line=number, location=location
            )
        columns.update(dict.fromkeys(item))
        records.append(Record(number, item))
    return DataFile(path, tuple(columns), tuple(records), location=location)


def resolve_layout(train_file: DataFile, data_args: DataTrainingArguments) -> DataLayout:
    """Work out the text and label columns (from the arguments, else run_glue-like defaults) and check they exist."""
    multi_hot_columns = split_names(data_args.multi_hot_label_columns)
    label_column = data_args.label_column_name
    if not multi_hot_columns and not label_column:
        label_column = next((name for name in DEFAULT_LABEL_COLUMNS if name in train_file.columns), None)
        if label_column is None:
            raise train_file.error(
                "no label column: name one `label` or `labels`, or set label_column_name or multi_hot_label_columns"
                + _columns_hint(train_file)
            )
    label_columns = multi_hot_columns or (label_column,)
    text_columns = split_names(data_args.text_column_names)
    if not text_columns:
        default = next((name for name in DEFAULT_TEXT_COLUMNS if name in train_file.columns), None)
        text_columns = (
            (default,) if default else tuple(c for c in train_file.columns if c not in label_columns)
        )
    names_file = _locate_names_file(data_args.label_names_file, train_file.path)
    layout = DataLayout(
        text_columns=text_columns,
        text_delimiter=data_args.text_column_delimiter,
        label_column=None if multi_hot_columns else label_column,
        multi_hot_columns=multi_hot_columns,
        label_delimiter=data_args.label_delimiter or None,
        label_names=read_label_names(names_file) if names_file else None,
        names_file=names_file,
        first_label_id=data_args.first_label_id,
    )
    if not text_columns:
        raise train_file.error("no text column: set text_column_names" + _columns_hint(train_file))
    return layout


def _locate_names_file(value: str | None, train_path: Path) -> Path | None:
    if not value:
        return None
    path = Path(value)
    if not path.exists() and not path.is_absolute() and (train_path.parent / path).exists():
        path = train_path.parent / path
    return path


def read_label_names(path: Path) -> tuple[str, ...]:
    """A names file: one label name per line, line N naming label id N."""
    if not path.is_file():
        raise DataError(path, "label_names_file: file not found")
    names = [line.strip() for line in path.read_text(encoding="utf-8-sig").rstrip().splitlines()]
    if not names:
        raise DataError(path, "the label names file is empty")
    for number, name in enumerate(names, start=1):
        if not name:
            raise DataError(path, "empty label name (each line names one label)", line=number)
        if name in names[: number - 1]:
            raise DataError(path, f"duplicate label name {name!r}", line=number)
    return tuple(names)


def parse_split(
    data_file: DataFile,
    layout: DataLayout,
    known_labels: Sequence[str] | None = None,
    train_path: Path | None = None,
) -> Split:
    """Each record's text and label names; `known_labels` (from training) rejects labels training never saw."""
    missing = [
        name for name in (*layout.text_columns, *layout.label_columns) if name not in data_file.columns
    ]
    if missing:
        raise data_file.error(f"column {missing[0]!r} not found" + _columns_hint(data_file))
    known = set(known_labels) if known_labels is not None else None
    texts, labels = [], []
    for record in data_file.records:
        texts.append(_text(data_file, record, layout))
        record_labels = _labels(data_file, record, layout)
        unseen = [label for label in record_labels if known is not None and label not in known]
        if unseen:
            raise data_file.error(
                f"label {unseen[0]!r} does not occur in the training data ({train_path}); "
                "add examples of it to training, or declare every label in a label_names_file",
                record,
                layout.label_column,
            )
        labels.append(record_labels)
    return Split(data_file.path, tuple(texts), tuple(labels))


def labels_seen(train: Split, layout: DataLayout) -> tuple[str, ...]:
    """The label set of training data without a names file: sorted, ids in numeric order."""
    seen = {label for labels in train.labels for label in labels}
    if not seen:
        raise DataError(train.path, "no labels in any row", column=layout.label_column)
    return tuple(
        sorted(seen, key=lambda name: (0, int(name), "") if INTEGER.fullmatch(name) else (1, 0, name))
    )


def _value(data_file: DataFile, record: Record, column: str) -> Any:
    if column not in record.values:
        raise data_file.error("missing", record, column)
    return record.values[column]


def _text(data_file: DataFile, record: Record, layout: DataLayout) -> str:
    parts = []
    for column in layout.text_columns:
        value = _value(data_file, record, column)
        if isinstance(value, dict | list | bool):
            raise data_file.error(f"expected text, got JSON {json.dumps(value)[:40]}", record, column)
        if value is not None and str(value).strip():
            parts.append(str(value).strip())
    if not parts:
        if len(layout.text_columns) == 1:
            raise data_file.error("empty text", record, layout.text_columns[0])
        columns = ", ".join(repr(name) for name in layout.text_columns)
        raise data_file.error(f"empty text (all of the text columns {columns} are empty)", record)
    return layout.text_delimiter.join(parts)


def _labels(data_file: DataFile, record: Record, layout: DataLayout) -> tuple[str, ...]:
    if layout.multi_hot_columns:
        return tuple(column for column in layout.multi_hot_columns if _zero_or_one(data_file, record, column))
    column = layout.label_column
    tokens = _label_tokens(data_file, record, column, layout)
    return tuple(dict.fromkeys(_label_name(data_file, record, column, token, layout) for token in tokens))


def _zero_or_one(data_file: DataFile, record: Record, column: str) -> bool:
    value = _value(data_file, record, column)
    if isinstance(value, str):
        value = value.strip()
    if value in ("0", "1") or (isinstance(value, int | float) and value in (0, 1)):
        return value in ("1", 1, True)
    raise data_file.error(f"expected 0 or 1 (a multi-hot label column), got {value!r}", record, column)


def _label_tokens(data_file: DataFile, record: Record, column: str, layout: DataLayout) -> list[str]:
    """The labels of one cell as strings: a delimited string, a JSON list (also inside a CSV cell) or one id."""
    value = _value(data_file, record, column)
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise data_file.error(
                f"not a valid JSON list of labels: {value[:60]!r}", record, column
            ) from None
    items = value if isinstance(value, list) else [value]
    tokens = []
    for item in items:
        if item is None:
            continue
        if (
            isinstance(item, bool)
            or not isinstance(item, str | int | float)
            or (isinstance(item, float) and not item.is_integer())
        ):
            raise data_file.error(f"expected label names or ids, got {json.dumps(item)[:60]}", record, column)
        if isinstance(item, str):
            parts = (
                item.split(layout.label_delimiter)
                if layout.label_delimiter
                else DEFAULT_LABEL_DELIMITERS.split(item)
            )
            tokens.extend(part.strip() for part in parts if part.strip())
        else:
            tokens.append(str(int(item)))
    return tokens


def _label_name(data_file: DataFile, record: Record, column: str, token: str, layout: DataLayout) -> str:
    """A label token as a label name: ids index the names file; without one, tokens are the names."""
    if layout.label_names is None:
        return token
    if INTEGER.fullmatch(token):
        position = int(token) - layout.first_label_id
        if 0 <= position < len(layout.label_names):
            return layout.label_names[position]
        last_id = layout.first_label_id + len(layout.label_names) - 1
        raise data_file.error(
            f"label id {token} is out of range: {layout.names_file} names ids {layout.first_label_id}..{last_id}",
            record,
            column,
        )
    if token in layout.label_names:
        return token
    raise data_file.error(
        f"label {token!r} is not in the label names file {layout.names_file}", record, column
    )


def _columns_hint(data_file: DataFile) -> str:
    columns = ", ".join(repr(name) for name in data_file.columns[:12])
    hint = f" (columns: {columns})"
    if data_file.has_header:
        hint += "; if the file has no header line, name its columns with column_names"
    return hint


class EncodedSplit(torch.utils.data.Dataset):
    """A split as the Trainer consumes it: token ids and float multi-hot labels per example.

    Without pad_to_max_length, texts keep their own length and DataCollatorWithPadding pads each batch to its
    longest text; with group_by_length the Trainer batches texts of similar length (it reads `input_ids`).
    """

    def __init__(
        self,
        split: Split,
        *,
        tokenizer,
        label_names: Sequence[str],
        max_seq_length: int,
        pad_to_max_length: bool,
    ):
        self.encodings = tokenizer(
            list(split.texts),
            truncation=True,
            max_length=max_seq_length,
            padding="max_length" if pad_to_max_length else False,
        )
        self.labels = split.multi_hot(label_names).tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, list]:
        item = {name: values[index] for name, values in self.encodings.items()}
        item["labels"] = self.labels[index]
        return item
