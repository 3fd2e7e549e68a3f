"""Training data: every accepted layout reads to the same examples, and every bad-data case is one clear error.

The layouts are derived from the shipped moderation dataset (validation split): the same comments and labels
written as CSV/TSV with and without a header, JSON and JSON Lines, label names or ids (with a names file),
delimited strings or JSON lists, multi-hot 0/1 columns, and the text split over two columns.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from examples.make_moderation_dataset import LABELS, write_dataset
from tests.support.training import MODERATION_DATA_DIR
from training.arguments import DataTrainingArguments
from training.data import load_data, locate_data_file
from training.errors import DataError, TrainingInputError


def reference_rows() -> list[tuple[str, tuple[str, ...]]]:
    with (MODERATION_DATA_DIR / "validation.csv").open(encoding="utf-8", newline="") as handle:
        return [(row["text"], tuple(row["labels"].split("|"))) for row in csv.DictReader(handle)]


ROWS = reference_rows()
NAMES_FILE = MODERATION_DATA_DIR / "labels.txt"


def ids(labels, first_id=0):
    return [LABELS.index(label) + first_id for label in labels]


def write_delimited(
    path: Path, rows: list[list], delimiter: str = ",", header: list[str] | None = None
) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def write_lines(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def split_text(text: str) -> tuple[str, str]:
    """A title and a body that join back to `text` with a space."""
    title, _, body = text.partition(" ")
    return title, body


# Each layout: a function writing the reference rows to a file in `directory`, and the hyperparameters to read it.
LAYOUTS = {
    "csv header, label names separated by |": (
        lambda d: MODERATION_DATA_DIR / "validation.csv",
        {},
    ),
    "csv without header, columns reordered": (
        lambda d: write_delimited(d / "data.csv", [["|".join(labels), text] for text, labels in ROWS]),
        {"column_names": "labels,text"},
    ),
    "tsv header, comma-separated ids and a names file": (
        lambda d: write_delimited(
            d / "data.tsv",
            [[text, ",".join(map(str, ids(labels)))] for text, labels in ROWS],
            "\t",
            ["text", "label"],
        ),
        {"label_names_file": str(NAMES_FILE)},
    ),
    "tsv without header, 1-based ids, extra id column (the GoEmotions shape)": (
        lambda d: write_delimited(
            d / "data.tsv",
            [[text, ",".join(map(str, ids(labels, 1))), f"c{n}"] for n, (text, labels) in enumerate(ROWS)],
            "\t",
        ),
        {
            "column_names": "text,labels,id",
            "text_column_names": "text",
            "label_names_file": str(NAMES_FILE),
            "first_label_id": 1,
        },
    ),
    "json array, label names as a JSON list": (
        lambda d: (
            (d / "data.json").write_text(
                json.dumps([{"comment": text, "tags": list(labels)} for text, labels in ROWS]),
                encoding="utf-8",
            )
            and d / "data.json"
        ),
        {"text_column_names": "comment", "label_column_name": "tags"},
    ),
    "json lines, ids as a JSON list and a names file": (
        lambda d: write_lines(
            d / "data.jsonl", [{"text": text, "label": ids(labels)} for text, labels in ROWS]
        ),
        {"label_names_file": str(NAMES_FILE)},
    ),
    "json lines in a .json file (run_glue's json), one label name per row when single": (
        lambda d: write_lines(
            d / "data.json",
            [
                {"text": text, "label": labels[0] if len(labels) == 1 else list(labels)}
                for text, labels in ROWS
            ],
        ),
        {},
    ),
    "csv multi-hot: one 0/1 column per label": (
        lambda d: write_delimited(
            d / "data.csv",
            [[text, *(int(label in labels) for label in LABELS)] for text, labels in ROWS],
            header=["text", *LABELS],
        ),
        {"multi_hot_label_columns": ",".join(LABELS)},
    ),
    "json lines multi-hot with JSON numbers, text in title + body columns": (
        lambda d: write_lines(
            d / "data.jsonl",
            [
                {
                    "title": split_text(text)[0],
                    "body": split_text(text)[1],
                    **{label: int(label in labels) for label in LABELS},
                }
                for text, labels in ROWS
            ],
        ),
        {"text_column_names": "title,body", "multi_hot_label_columns": ",".join(LABELS)},
    ),
    "csv, title + description columns and no text column (run_glue's default: every non-label column)": (
        lambda d: write_delimited(
            d / "data.csv",
            [["|".join(labels), *split_text(text)] for text, labels in ROWS],
            header=["label", "title", "description"],
        ),
        {},
    ),
    "csv, custom label delimiter": (
        lambda d: write_delimited(
            d / "data.csv", [[text, " ; ".join(labels)] for text, labels in ROWS], header=["text", "labels"]
        ),
        {"label_delimiter": ";"},
    ),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_reads_to_the_same_examples(layout, tmp_path):
    write, options = LAYOUTS[layout]
    path = write(tmp_path)
    data = load_data(DataTrainingArguments(train_file=str(path), validation_file=str(path), **options))
    assert sorted(data.label_names) == sorted(LABELS)
    for split in (data.train, data.validation):
        assert split.texts == tuple(text for text, _ in ROWS)
        assert [set(labels) for labels in split.labels] == [set(labels) for _, labels in ROWS]
    matrix = data.validation.multi_hot(data.label_names)
    assert matrix.sum() == sum(len(labels) for _, labels in ROWS)


def test_label_order_comes_from_the_names_file_or_the_data(tmp_path):
    shipped = {
        "train_file": str(MODERATION_DATA_DIR / "train.csv"),
        "validation_file": str(MODERATION_DATA_DIR / "validation.csv"),
    }
    assert load_data(DataTrainingArguments(**shipped, label_names_file="labels.txt")).label_names == LABELS
    assert load_data(DataTrainingArguments(**shipped)).label_names == tuple(sorted(LABELS))
    numeric = write_delimited(tmp_path / "ids.csv", [["a", "10"], ["b", "9,2"]], header=["text", "label"])
    assert load_data(
        DataTrainingArguments(train_file=str(numeric), validation_file=str(numeric))
    ).label_names == ("2", "9", "10")


def test_max_samples_truncate_each_split():
    data = load_data(
        DataTrainingArguments(
            train_file=str(MODERATION_DATA_DIR / "train.csv"),
            validation_file=str(MODERATION_DATA_DIR / "validation.csv"),
            test_file=str(MODERATION_DATA_DIR / "test.csv"),
            max_train_samples=10,
            max_eval_samples=7,
            max_predict_samples=5,
        )
    )
    assert (len(data.train), len(data.validation), len(data.test)) == (10, 7, 5)


def test_a_channel_directory_resolves_to_its_data_file(tmp_path):
    channel = tmp_path / "validation"
    channel.mkdir()
    (channel / "validation.csv").write_text("text,labels\nhi,benign\n", encoding="utf-8")
    (channel / "manifest.json").write_text("{}", encoding="utf-8")
    assert locate_data_file(str(channel), "validation_file") == channel / "validation.csv"
    relative = locate_data_file("validation.csv", "validation_file", {"SM_CHANNEL_VALIDATION": str(channel)})
    assert relative == channel / "validation.csv"


def test_the_shipped_dataset_is_what_its_generator_writes(tmp_path):
    for path in write_dataset(tmp_path):
        assert path.read_bytes() == (MODERATION_DATA_DIR / path.name).read_bytes(), path.name


# Bad data: (files to write, hyperparameters, the expected message as a regular expression).
GOOD = "text,labels\nyou are great,benign\nyou idiot,toxic|insult\n"
BAD_DATA = {
    "missing file": (
        {"train.csv": GOOD},
        {"validation_file": "{dir}/nowhere.csv"},
        r"^{dir}/nowhere\.csv: validation_file: file not found$",
    ),
    "missing column": (
        {"train.csv": GOOD},
        {"text_column_names": "comment"},
        r"^{dir}/train\.csv: column 'comment' not found \(columns: 'text', 'labels'\); if the file has no header",
    ),
    "empty text": (
        {"train.csv": "text,labels\nhello,benign\n  ,toxic\n"},
        {},
        r"^{dir}/train\.csv, line 3, column 'text': empty text$",
    ),
    "empty text in every text column": (
        {"train.csv": "title,body,labels\nhi,there,benign\n,,toxic\n"},
        {"text_column_names": "title,body"},
        r"^{dir}/train\.csv, line 3: empty text \(all of the text columns 'title', 'body' are empty\)$",
    ),
    "empty split": (
        {"train.csv": GOOD, "validation.csv": "text,labels\n"},
        {"validation_file": "{dir}/validation.csv"},
        r"^{dir}/validation\.csv: no data rows after the header line$",
    ),
    "empty json lines file": (
        {"train.jsonl": "\n\n"},
        {"train_file": "{dir}/train.jsonl"},
        r"^{dir}/train\.jsonl: no data rows$",
    ),
    "label in validation not seen in training": (
        {"train.csv": GOOD, "validation.csv": "text,labels\nok,benign\nbuy now,spam|toxic\n"},
        {"validation_file": "{dir}/validation.csv"},
        r"^{dir}/validation\.csv, line 3, column 'labels': label 'spam' does not occur in the training data "
        r"\({dir}/train\.csv\)",
    ),
    "non-0/1 value in a multi-hot column": (
        {"train.csv": "text,toxic,insult\na,0,1\nb,1,0\nc,0,2\n"},
        {"multi_hot_label_columns": "toxic,insult"},
        r"^{dir}/train\.csv, line 4, column 'insult': expected 0 or 1 \(a multi-hot label column\), got '2'$",
    ),
    "multi-hot column missing from one JSON line": (
        {"train.jsonl": '{"text": "a", "toxic": 1, "insult": 0}\n{"text": "b", "toxic": 0}\n'},
        {"train_file": "{dir}/train.jsonl", "multi_hot_label_columns": "toxic,insult"},
        r"^{dir}/train\.jsonl, line 2, column 'insult': missing$",
    ),
    "invalid JSON line": (
        {"train.jsonl": '{"text": "a", "label": "x"}\n{"text": "b", label}\n'},
        {"train_file": "{dir}/train.jsonl"},
        r"^{dir}/train\.jsonl, line 2: invalid JSON: ",
    ),
    "JSON array element that is not an object": (
        {"train.json": '[{"text": "a", "label": "x"}, ["b", "y"]]'},
        {"train_file": "{dir}/train.json"},
        r"^{dir}/train\.json, record 2: expected a JSON object, got list$",
    ),
    "row with a missing field": (
        {"train.csv": "text,labels\nhello,benign\nno label here\n"},
        {},
        r"^{dir}/train\.csv, line 3: has 1 fields, expected 2 \(columns: text, labels\)$",
    ),
    "label id out of the names file's range": (
        {"train.csv": "text,labels\na,0\nb,7\n", "names.txt": "toxic\nbenign\n"},
        {"label_names_file": "names.txt"},
        r"^{dir}/train\.csv, line 3, column 'labels': label id 7 is out of range: {dir}/names\.txt names ids 0\.\.1$",
    ),
    "label name not in the names file": (
        {"train.csv": "text,labels\na,toxic\nb,rude\n", "names.txt": "toxic\nbenign\n"},
        {"label_names_file": "names.txt"},
        r"^{dir}/train\.csv, line 3, column 'labels': label 'rude' is not in the label names file {dir}/names\.txt$",
    ),
    "duplicate name in the names file": (
        {"train.csv": GOOD, "names.txt": "toxic\nbenign\ntoxic\n"},
        {"label_names_file": "names.txt"},
        r"^{dir}/names\.txt, line 3: duplicate label name 'toxic'$",
    ),
    "no label column": (
        {"train.csv": "text,category\na,b\n"},
        {},
        r"^{dir}/train\.csv: no label column: name one `label` or `labels`, or set label_column_name or "
        r"multi_hot_label_columns \(columns: 'text', 'category'\)",
    ),
    "no labels at all": (
        {"train.csv": "text,labels\na,\nb,\n"},
        {},
        r"^{dir}/train\.csv, column 'labels': no labels in any row$",
    ),
    "label cell that is not a JSON list": (
        {"train.jsonl": '{"text": "a", "label": {"toxic": 1}}\n'},
        {"train_file": "{dir}/train.jsonl"},
        r'^{dir}/train\.jsonl, line 1, column \'label\': expected label names or ids, got \{"toxic": 1\}$',
    ),
    "unsupported file type": (
        {"train.txt": GOOD},
        {"train_file": "{dir}/train.txt"},
        r"^{dir}/train\.txt: unsupported file type '\.txt': use \.csv, \.tsv, \.json or \.jsonl$",
    ),
    "channel directory with several data files": (
        {"train/a.csv": GOOD, "train/b.csv": GOOD},
        {"train_file": "{dir}/train"},
        r"^{dir}/train: expected one data file \(\.csv, \.tsv, \.json or \.jsonl\) in this directory, found: a\.csv, b\.csv$",
    ),
}


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_is_one_clear_error_naming_file_line_and_column(case, tmp_path):
    files, options, expected = BAD_DATA[case]
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content, encoding="utf-8")
    arguments = {"train_file": "{dir}/train.csv", "validation_file": "{dir}/train.csv", **options}
    arguments = {
        key: value.replace("{dir}", str(tmp_path)) if isinstance(value, str) else value
        for key, value in arguments.items()
    }
    with pytest.raises(DataError) as raised:
        load_data(DataTrainingArguments(**arguments))
    assert re.search(expected.replace("{dir}", re.escape(str(tmp_path))), str(raised.value)), str(
        raised.value
    )


def test_label_column_and_multi_hot_columns_exclude_each_other():
    with pytest.raises(TrainingInputError, match="label_column_name or multi_hot_label_columns, not both"):
        DataTrainingArguments(label_column_name="labels", multi_hot_label_columns="a,b")


def test_training_and_validation_files_are_required():
    with pytest.raises(TrainingInputError, match="no training data"):
        load_data(DataTrainingArguments(validation_file="v.csv"), environ={})
    with pytest.raises(TrainingInputError, match=r"no validation data.*thresholds are chosen on it"):
        load_data(DataTrainingArguments(train_file="t.csv"), environ={})
