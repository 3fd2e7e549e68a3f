"""Fine-tune a transformer for multi-label text classification: the SageMaker training entry point.

transformers' run_glue.py interface and habits (HfArgumentParser dataclasses, Trainer), made multi-label: one
sigmoid per label (problem_type="multi_label_classification"), a decision threshold per label tuned on the
validation split, and an output directory that deploys as-is.

    python -m training.train --model_name_or_path <model> --train_file train.csv --validation_file dev.csv \
        --output_dir model/ [--test_file test.csv] [--num_train_epochs 3 ...]

On SageMaker it runs as script-mode `train.py` (from training.packaging's source tarball), with its defaults taken
from the SM_* environment; it also runs unchanged under torchrun, where only rank 0 writes the artifact.
"""

from __future__ import annotations

import logging
import sys
from functools import partial
from pathlib import Path

import transformers
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    HfArgumentParser,
    set_seed,
)
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from training import sagemaker_env
from training.arguments import DataTrainingArguments, ModelArguments, MultiLabelTrainingArguments
from training.artifacts import check_output_dir, write_model_artifact
from training.data import EncodedSplit, load_data
from training.errors import TrainingInputError
from training.metrics import (
    MetricLinesCallback,
    metric_lines,
    print_metric_lines,
    split_report,
    trainer_metrics,
)
from training.model_card import model_card
from training.thresholds import tune_thresholds
from training.trainer import MultiLabelTrainer, predict_scores, weighted_bce_loss

logger = logging.getLogger(__name__)

#: The `name=value` prefix of each split's metrics (the Trainer's names: eval_f1_macro, test_f1_macro, ...).
SPLIT_PREFIXES = {"validation": "eval", "test": "test"}


def main(argv: list[str] | None = None) -> None:
    with sagemaker_env.report_failures():
        model_args, data_args, training_args = parse_arguments(argv)
        setup_logging(training_args)
        model_dir = Path(training_args.model_dir)
        check_output_dir(model_dir, training_args.overwrite_output_dir)
        set_seed(training_args.seed)

        # Data: every split is read and checked before anything heavy, so bad data fails in seconds.
        data = load_data(data_args)
        label_names = list(data.label_names)
        logger.info("%d labels: %s", len(label_names), ", ".join(label_names))

        # Model: a classification head with one sigmoid output per label (BCE-with-logits loss).
        config = AutoConfig.from_pretrained(
            model_args.config_name or model_args.model_name_or_path,
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={name: index for index, name in enumerate(label_names)},
            problem_type="multi_label_classification",
            cache_dir=model_args.cache_dir,
            revision=model_args.model_revision,
            token=model_args.token,
        )
        tokenizer = AutoTokenizer.from_pretrained(
            model_args.tokenizer_name or model_args.model_name_or_path,
            cache_dir=model_args.cache_dir,
            use_fast=model_args.use_fast_tokenizer,
            revision=model_args.model_revision,
            token=model_args.token,
        )
        model = AutoModelForSequenceClassification.from_pretrained(
            model_args.model_name_or_path,
            config=config,
            cache_dir=model_args.cache_dir,
            revision=model_args.model_revision,
            token=model_args.token,
            ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
        )

        # Tokenize. Without pad_to_max_length, batches are padded to their longest text (DataCollatorWithPadding).
        max_seq_length = effective_max_seq_length(data_args.max_seq_length, tokenizer)
        encode = partial(
            EncodedSplit,
            tokenizer=tokenizer,
            label_names=label_names,
            max_seq_length=max_seq_length,
            pad_to_max_length=data_args.pad_to_max_length,
        )
        train_dataset, validation_dataset = encode(data.train), encode(data.validation)
        test_dataset = encode(data.test) if data.test else None

        # Train, evaluating every epoch; the checkpoint with the best validation macro-F1 is kept.
        trainer = MultiLabelTrainer(
            model=model,
            args=training_args,
            train_dataset=train_dataset,
            eval_dataset=validation_dataset,
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(
                tokenizer, pad_to_multiple_of=8 if training_args.fp16 or training_args.bf16 else None
            ),
            compute_metrics=partial(
                trainer_metrics,
                label_names=label_names,
                min_positives=training_args.threshold_min_positives,
                fallback=training_args.fallback_threshold,
            ),
            compute_loss_func=weighted_bce_loss(
                data.train.multi_hot(label_names), label_names, training_args.max_pos_weight
            )
            if training_args.use_pos_weight
            else None,  # None: the model's own BCE-with-logits loss
            callbacks=[MetricLinesCallback()],
        )
        train_metrics = {}
        if training_args.do_train:
            train_result = trainer.train(resume_from_checkpoint=checkpoint_to_resume(training_args))
            train_metrics = train_result.metrics

        # Evaluate the best model, tune the per-label thresholds on validation, score test at those thresholds.
        trainer.compute_metrics = None  # the final metrics are computed below, from the predicted scores
        scored = {"validation": predict_scores(trainer, validation_dataset, "eval")}
        if test_dataset is not None:
            scored["test"] = predict_scores(trainer, test_dataset, "test")
        choice = tune_thresholds(
            scored["validation"].truth,
            scored["validation"].scores,
            label_names,
            training_args.threshold_min_positives,
            training_args.fallback_threshold,
        )
        reports = {
            split: split_report(result.truth, result.scores, choice.thresholds, label_names, result.loss)
            for split, result in scored.items()
        }
        metrics = {}
        for split, report in reports.items():
            metrics.update(metric_lines(SPLIT_PREFIXES[split], report))
        eval_results = {
            "labels": label_names,
            "thresholds": choice.by_label(),
            "metrics": metrics,
            "splits": reports,
            "train": train_metrics,
        }

        # Save: only the main process writes (torchrun runs one process per GPU).
        if trainer.is_world_process_zero():
            print_metric_lines(metrics)
            write_model_artifact(
                model_dir,
                model=trainer.model,
                tokenizer=tokenizer,
                choice=choice,
                eval_results=eval_results,
                model_card=model_card(
                    base_model=model_args.model_name_or_path,
                    data=data,
                    choice=choice,
                    report=eval_results,
                    training_args=training_args,
                    max_seq_length=max_seq_length,
                    pad_to_max_length=data_args.pad_to_max_length,
                ),
                overwrite=training_args.overwrite_output_dir,
            )
            logger.info("Model artifact written to %s", model_dir)


class ArgumentParser(HfArgumentParser):
    """HfArgumentParser whose errors are input errors (reported to SageMaker) rather than a bare exit."""

    def error(self, message: str):
        raise TrainingInputError(f"invalid hyperparameters: {message}")


def parse_arguments(
    argv: list[str] | None = None,
) -> tuple[ModelArguments, DataTrainingArguments, MultiLabelTrainingArguments]:
    """Command-line hyperparameters over SageMaker's defaults; an unknown or invalid one is an input error."""
    parser = ArgumentParser((ModelArguments, DataTrainingArguments, MultiLabelTrainingArguments))
    parser.set_defaults(**sagemaker_env.argument_defaults())
    try:
        *parsed, unknown = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    except TrainingInputError:
        raise
    except ValueError as error:  # TrainingArguments' own consistency checks
        raise TrainingInputError(f"invalid hyperparameters: {error}") from None
    if unknown:
        raise TrainingInputError(f"unknown hyperparameter(s): {' '.join(unknown)}")
    return tuple(parsed)


def setup_logging(training_args: MultiLabelTrainingArguments) -> None:
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    if training_args.should_log:
        transformers.utils.logging.set_verbosity_info()
    log_level = training_args.get_process_log_level()
    logger.setLevel(log_level)
    logging.getLogger("training").setLevel(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.enable_default_handler()
    transformers.utils.logging.enable_explicit_format()
    logger.warning(
        "Process rank: %s, device: %s, n_gpu: %s, distributed training: %s, precision: %s",
        training_args.process_index,
        training_args.device,
        training_args.n_gpu,
        training_args.parallel_mode.value == "distributed",
        "bf16" if training_args.bf16 else "fp16" if training_args.fp16 else "fp32",
    )
    sagemaker_env.log_gpu_setup()


def checkpoint_to_resume(training_args: MultiLabelTrainingArguments) -> str | None:
    """run_glue's habit: resume from the last checkpoint in checkpoint_dir (a restarted spot job) unless told not to."""
    if training_args.resume_from_checkpoint:
        return training_args.resume_from_checkpoint
    if training_args.overwrite_output_dir:
        return None
    last_checkpoint = last_complete_checkpoint(Path(training_args.checkpoint_dir))
    if last_checkpoint:
        logger.info("Resuming from %s (use --overwrite_output_dir to train from scratch)", last_checkpoint)
    return last_checkpoint


def last_complete_checkpoint(checkpoint_dir: Path) -> str | None:
    """The newest `checkpoint-N` that the Trainer finished writing (trainer_state.json is its last file): a job
    stopped while saving leaves a partial checkpoint that cannot be resumed from."""
    complete = {}
    for path in checkpoint_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        step = path.name.removeprefix(f"{PREFIX_CHECKPOINT_DIR}-")
        if step.isdigit() and (path / TRAINER_STATE_NAME).is_file():
            complete[int(step)] = path
    return str(complete[max(complete)]) if complete else None


def effective_max_seq_length(requested: int, tokenizer) -> int:
    if requested > tokenizer.model_max_length:
        logger.warning(
            "max_seq_length %d exceeds the model's maximum %d; using %d",
            requested,
            tokenizer.model_max_length,
            tokenizer.model_max_length,
        )
    return min(requested, tokenizer.model_max_length)


if __name__ == "__main__":
    main()
