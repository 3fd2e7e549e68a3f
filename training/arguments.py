"""The entry point's hyperparameters: run_glue's three dataclasses, made multi-label.

Every hyperparameter of the original notebook (`model_name_or_path, output_dir, train_file, validation_file,
do_train, do_eval, num_train_epochs, save_total_limit`) and run_glue's usual ones keep their names and meaning.
SageMaker passes them as strings (`--do_train True`); HfArgumentParser reads those.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from transformers import TrainingArguments
from transformers.trainer_utils import IntervalStrategy, SaveStrategy

from training.errors import TrainingInputError

#: Name of the metric that picks the best checkpoint (validation macro-F1 at the tuned per-label thresholds).
BEST_MODEL_METRIC = "f1_macro"


def split_names(value: str | None) -> tuple[str, ...]:
    """`"title,description"` -> `("title", "description")`; hyperparameters carry lists as comma-separated text."""
    return tuple(name.strip() for name in (value or "").split(",") if name.strip())


@dataclass
class ModelArguments:
    """Which model, config and tokenizer to fine-tune from."""

    model_name_or_path: str = field(
        metadata={"help": "Path to a pretrained model or model identifier from huggingface.co/models"}
    )
    config_name: str | None = field(
        default=None, metadata={"help": "Pretrained config name or path if not the same as model_name"}
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Pretrained tokenizer name or path if not the same as model_name"}
    )
    cache_dir: str | None = field(
        default=None, metadata={"help": "Where to store the pretrained models downloaded from huggingface.co"}
    )
    use_fast_tokenizer: bool = field(default=True, metadata={"help": "Use a fast (Rust) tokenizer."})
    model_revision: str = field(
        default="main", metadata={"help": "The model version to use (branch name, tag name or commit id)."}
    )
    token: str | None = field(
        default=None, metadata={"help": "HTTP bearer token for private models on the Hugging Face hub."}
    )
    ignore_mismatched_sizes: bool = field(
        default=False,
        metadata={
            "help": "Load a model whose classification head has a different number of labels (re-training)."
        },
    )


@dataclass
class DataTrainingArguments:
    """What data to train and evaluate on, and where its text and labels are."""

    train_file: str | None = field(
        default=None,
        metadata={
            "help": "Training data: .csv, .tsv, .json or .jsonl (default: the file in SM_CHANNEL_TRAIN)."
        },
    )
    validation_file: str | None = field(
        default=None,
        metadata={
            "help": "Validation data, used to pick the best checkpoint and tune the per-label thresholds "
            "(default: the file in SM_CHANNEL_VALIDATION)."
        },
    )
    test_file: str | None = field(
        default=None,
        metadata={"help": "Optional test data, scored at the tuned thresholds (default: SM_CHANNEL_TEST)."},
    )
    column_names: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated names of the columns of CSV/TSV files that have no header line, in order "
            "(e.g. `text,labels,id`). Without it the first line is the header."
        },
    )
    text_column_names: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated text column(s); several are joined with text_column_delimiter. Default: "
            "`text` or `sentence` if present, else every column that does not hold labels (run_glue's habit)."
        },
    )
    text_column_delimiter: str = field(
        default=" ",
        metadata={"help": "Joins several text columns into the one text the model (and endpoint) sees."},
    )
    label_column_name: str | None = field(
        default=None,
        metadata={
            "help": "Column holding each row's labels: names or ids separated by label_delimiter (`insult|threat`, "
            "`3,15`), or a JSON list. Default: `label` or `labels`."
        },
    )
    multi_hot_label_columns: str | None = field(
        default=None,
        metadata={"help": "Comma-separated 0/1 columns, one per label (the column name is the label name)."},
    )
    label_delimiter: str | None = field(
        default=None,
        metadata={"help": "Separates labels within a label cell. Default: any of `|`, `,` and `;`."},
    )
    label_names_file: str | None = field(
        default=None,
        metadata={
            "help": "Text file of label names, line N naming label id N (e.g. classes.txt, emotions.txt). A relative "
            "path is also looked up next to the training file."
        },
    )
    first_label_id: int = field(
        default=0,
        metadata={"help": "The id of the first line of label_names_file (1 for 1-based class ids)."},
    )
    max_seq_length: int = field(
        default=128,
        metadata={
            "help": "The maximum total input sequence length after tokenization; longer texts are truncated."
        },
    )
    pad_to_max_length: bool = field(
        default=False,
        metadata={
            "help": "Pad every text to max_seq_length (run_glue's default). Off by default: batches are padded "
            "to their longest text, which saves most of the compute on short texts."
        },
    )
    max_train_samples: int | None = field(
        default=None,
        metadata={"help": "Truncate the training data to this many examples (debugging, quick runs)."},
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Truncate the validation data to this many examples."}
    )
    max_predict_samples: int | None = field(
        default=None, metadata={"help": "Truncate the test data to this many examples."}
    )

    def __post_init__(self):
        if split_names(self.label_column_name) and split_names(self.multi_hot_label_columns):
            raise TrainingInputError("set label_column_name or multi_hot_label_columns, not both")


@dataclass
class MultiLabelTrainingArguments(TrainingArguments):
    """transformers' TrainingArguments, with defaults for multi-label fine-tuning and a few additions.

    Changed defaults: evaluate and save every epoch and keep the checkpoint with the best validation macro-F1;
    batches of similar length (`group_by_length`); no reporting integrations unless asked (`report_to`).
    `output_dir` is the model artifact (SM_MODEL_DIR on SageMaker); checkpoints go to `checkpoint_dir`.
    """

    checkpoint_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where the Trainer writes checkpoints (kept out of the model artifact). Default: /opt/ml/checkpoints "
            "on SageMaker (synced to S3 when the job has a checkpoint config, so spot jobs resume), else "
            "`<output_dir>-checkpoints`."
        },
    )
    use_pos_weight: bool = field(
        default=False,
        metadata={
            "help": "Weight each label's positives by negatives/positives in the training data (rare labels)."
        },
    )
    max_pos_weight: float = field(
        default=10.0, metadata={"help": "Upper bound of a label's positive weight."}
    )
    threshold_min_positives: int = field(
        default=5,
        metadata={
            "help": "Labels with fewer positive validation examples than this keep fallback_threshold instead of a "
            "tuned threshold (too few examples to tune on)."
        },
    )
    fallback_threshold: float = field(
        default=0.5, metadata={"help": "Threshold of labels that cannot be tuned."}
    )
    auto_mixed_precision: bool = field(
        default=True,
        metadata={
            "help": "Train in bf16 (fp16 where bf16 is unsupported) on a CUDA GPU unless --fp16/--bf16 is given."
        },
    )
    do_train: bool = field(default=True, metadata={"help": "Whether to run training."})
    eval_strategy: IntervalStrategy | str = field(
        default="epoch", metadata={"help": "The evaluation strategy to use."}
    )
    save_strategy: SaveStrategy | str = field(
        default="epoch", metadata={"help": "The checkpoint save strategy to use."}
    )
    load_best_model_at_end: bool | None = field(
        default=True, metadata={"help": "Load the checkpoint with the best metric_for_best_model at the end."}
    )
    metric_for_best_model: str | None = field(
        default=BEST_MODEL_METRIC,
        metadata={
            "help": "The metric that picks the best checkpoint (validation macro-F1 at tuned thresholds)."
        },
    )
    group_by_length: bool = field(
        default=True, metadata={"help": "Batch texts of similar length together (less padding, faster)."}
    )
    report_to: str = field(
        default="none",
        metadata={"help": "The integrations to report the results and logs to (e.g. tensorboard)."},
    )

    #: The model artifact directory: what `--output_dir` names (see __post_init__).
    model_dir: str = field(init=False, default="")

    def __post_init__(self):
        # `--output_dir` names the model artifact, as in the notebook (`--output_dir /opt/ml/model`). The Trainer's
        # own output (checkpoints, logs) is pointed at checkpoint_dir, so the artifact holds only the model.
        if not self.output_dir:
            raise TrainingInputError(
                "set output_dir, the model directory (on SageMaker it defaults to SM_MODEL_DIR)"
            )
        self.model_dir = self.output_dir
        self.checkpoint_dir = self.checkpoint_dir or f"{self.output_dir.rstrip('/')}-checkpoints"
        self.output_dir = self.checkpoint_dir
        if not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            # torchrun without GPUs: accelerate joins the processes (gloo DDP) only when told it runs on CPU;
            # otherwise every process would train alone, and all of them would write the artifact.
            self.use_cpu = True
        if (
            self.auto_mixed_precision
            and not (self.fp16 or self.bf16 or self.use_cpu)
            and torch.cuda.is_available()
        ):
            if torch.cuda.is_bf16_supported():
                self.bf16 = True
            else:
                self.fp16 = True
        super().__post_init__()
