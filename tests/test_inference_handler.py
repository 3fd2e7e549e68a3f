"""The inference handler's four hooks, in process, with the tiny classifier artifact (tests/conftest.py).

Requests go input_fn -> predict_fn -> output_fn with a real Multi Model Server `Context`, so the HTTP status the
handler sets is the one the model server would send.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil

import jsonschema
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from mms.context import Context, RequestProcessor

from inference import inference as handler
from tests.conftest import TINY_LABELS, TINY_THRESHOLDS

RESPONSE_VALIDATOR = jsonschema.Draft4Validator(
    json.loads(handler.REQUEST_SCHEMA_PATH.with_name("response_schema.json").read_text())
)
ERROR_VALIDATOR = jsonschema.Draft4Validator(
    json.loads(handler.REQUEST_SCHEMA_PATH.with_name("error_schema.json").read_text())
)

TEXTS = ["you are a stupid idiot", "thanks, great article", "i will find you tonight", "hello"]


@pytest.fixture(scope="module")
def classifier(tiny_artifact_dir):
    return handler.model_fn(str(tiny_artifact_dir))


def mms_context(model_dir) -> Context:
    context = Context("model", str(model_dir), None, 1, None, "1.1.11")
    context.request_processor = [RequestProcessor({})]
    return context


def invoke(classifier, body, content_type="application/json", accept="application/json"):
    """One request through the three request hooks; returns (HTTP status, body text)."""
    context = mms_context("unused")
    data = handler.input_fn(body, content_type, context)
    prediction = handler.predict_fn(data, classifier, context)
    text = handler.output_fn(prediction, accept, context)
    status, _phrase = context.get_response_status(0)
    return status, text


def classify(classifier, request: dict, **kwargs) -> dict:
    status, text = invoke(classifier, json.dumps(request), **kwargs)
    assert status == 200, text
    response = json.loads(text)
    RESPONSE_VALIDATOR.validate(response)
    return response


def all_scores(classifier, texts) -> list[dict[str, float]]:
    response = classify(classifier, {"inputs": texts, "parameters": {"return_all_scores": True}})
    return [prediction["scores"] for prediction in response["predictions"]]


# ---------------------------------------------------------------- model_fn


def test_model_fn_loads_labels_thresholds_and_logs_what_it_loaded(tiny_artifact_dir, caplog):
    with caplog.at_level(logging.INFO, logger=handler.__name__):
        classifier = handler.model_fn(str(tiny_artifact_dir))
    assert classifier.labels == TINY_LABELS
    tuned = TINY_THRESHOLDS["thresholds"]
    expected = {label: tuned.get(label, TINY_THRESHOLDS["fallback"]) for label in TINY_LABELS}
    assert classifier.thresholds == expected
    assert classifier.device == torch.device("cpu")
    assert not classifier.model.training
    assert classifier.max_length == 128  # the tiny model's max_position_embeddings
    assert (classifier.max_batch_size, classifier.max_batch_tokens) == (32, 256)  # the defaults on a CPU
    log = caplog.text
    for fact in (
        "6 labels",
        "toxic",
        "thresholds.json (method fixed for tests, 2 of 6 labels tuned)",
        "cpu",
        "float32",
        "warm-up",
    ):
        assert fact in log


def copy_artifact(source, destination):
    shutil.copytree(source, destination)
    return destination


def test_model_fn_without_thresholds_file_uses_the_default(tiny_artifact_dir, tmp_path):
    artifact = copy_artifact(tiny_artifact_dir, tmp_path / "model")
    (artifact / "thresholds.json").unlink()
    classifier = handler.model_fn(str(artifact))
    assert classifier.thresholds == dict.fromkeys(TINY_LABELS, handler.DEFAULT_THRESHOLD)


@pytest.mark.parametrize(
    ("thresholds", "problem"),
    [
        ({"thresholds": {"toxic": 0.3, "spam": 0.5}}, "labels not in the model's config.json: ['spam']"),
        ({"thresholds": {"toxic": 1.3}}, "thresholds must be numbers in [0, 1]"),
        ({"thresholds": {"toxic": "high"}}, "thresholds must be numbers in [0, 1]"),
        ({"toxic": 0.3}, "expected"),
    ],
)
def test_model_fn_refuses_a_thresholds_file_that_does_not_fit_the_model(
    tiny_artifact_dir, tmp_path, thresholds, problem
):
    artifact = copy_artifact(tiny_artifact_dir, tmp_path / "model")
    (artifact / "thresholds.json").write_text(json.dumps(thresholds))
    with pytest.raises(ValueError, match=r"thresholds\.json") as raised:
        handler.model_fn(str(artifact))
    assert problem in str(raised.value)


def test_model_fn_refuses_a_single_label_model(tiny_artifact_dir, tmp_path):
    artifact = copy_artifact(tiny_artifact_dir, tmp_path / "model")
    config = json.loads((artifact / "config.json").read_text())
    (artifact / "config.json").write_text(
        json.dumps({**config, "problem_type": "single_label_classification"})
    )
    with pytest.raises(ValueError, match="multi_label_classification"):
        handler.model_fn(str(artifact))


def test_batch_limits_come_from_the_environment(tiny_artifact_dir, monkeypatch):
    monkeypatch.setenv(handler.MAX_BATCH_SIZE_ENV, "4")
    monkeypatch.setenv(handler.MAX_BATCH_TOKENS_ENV, "100")
    classifier = handler.model_fn(str(tiny_artifact_dir))
    assert (classifier.max_batch_size, classifier.max_batch_tokens) == (4, 100)


@pytest.mark.parametrize("value", ["0", "-3", "lots", "2.5"])
def test_invalid_batch_limit_fails_the_load_naming_the_variable(tiny_artifact_dir, monkeypatch, value):
    monkeypatch.setenv(handler.MAX_BATCH_TOKENS_ENV, value)
    with pytest.raises(ValueError, match=handler.MAX_BATCH_TOKENS_ENV):
        handler.model_fn(str(tiny_artifact_dir))


# ---------------------------------------------------------------- predictions


def test_one_text_and_a_list_of_texts_get_one_prediction_each_in_input_order(classifier):
    one = classify(classifier, {"inputs": TEXTS[0]})
    assert len(one["predictions"]) == 1
    batch = all_scores(classifier, TEXTS)
    singles = [all_scores(classifier, [text])[0] for text in TEXTS]
    assert len(batch) == len(TEXTS)
    for batched, single in zip(batch, singles, strict=True):
        assert batched.keys() == single.keys()
        np.testing.assert_allclose([batched[k] for k in single], list(single.values()), atol=1e-5)


def test_labels_are_those_at_or_above_their_tuned_threshold(classifier):
    response = classify(classifier, {"inputs": TEXTS, "parameters": {"return_all_scores": True}})
    assert response["thresholds"] == classifier.thresholds
    for prediction in response["predictions"]:
        scores = prediction["scores"]
        assert list(scores.values()) == sorted(scores.values(), reverse=True)
        expected = [label for label in scores if scores[label] >= response["thresholds"][label]]
        assert prediction["labels"] == expected


def test_default_response_shows_the_scores_of_the_predicted_labels_only(classifier):
    response = classify(classifier, {"inputs": TEXTS, "parameters": {"threshold": 0.5}})
    for prediction in response["predictions"]:
        assert list(prediction["scores"]) == prediction["labels"]
        assert all(score >= 0.5 for score in prediction["scores"].values())


def test_threshold_replaces_the_tuned_ones_and_thresholds_override_per_label(classifier):
    everything = classify(classifier, {"inputs": TEXTS, "parameters": {"threshold": 0}})
    assert all(sorted(p["labels"]) == sorted(TINY_LABELS) for p in everything["predictions"])
    assert everything["thresholds"] == dict.fromkeys(TINY_LABELS, 0)
    nothing = classify(classifier, {"inputs": TEXTS, "parameters": {"threshold": 1}})
    assert all(p["labels"] == [] for p in nothing["predictions"])
    all_but_toxic = classify(
        classifier, {"inputs": TEXTS, "parameters": {"threshold": 0, "thresholds": {"toxic": 1}}}
    )
    assert all(
        sorted(p["labels"]) == sorted(set(TINY_LABELS) - {"toxic"}) for p in all_but_toxic["predictions"]
    )
    tuned_but_threat = classify(classifier, {"inputs": TEXTS, "parameters": {"thresholds": {"threat": 0.1}}})
    assert tuned_but_threat["thresholds"] == {**classifier.thresholds, "threat": 0.1}


def test_top_k_returns_the_k_best_scores_and_leaves_labels_to_the_thresholds(classifier):
    full = all_scores(classifier, TEXTS)
    response = classify(classifier, {"inputs": TEXTS, "parameters": {"top_k": 2, "threshold": 0}})
    for prediction, scores in zip(response["predictions"], full, strict=True):
        assert list(prediction["scores"]) == list(scores)[:2]
        assert len(prediction["labels"]) == len(TINY_LABELS)
    assert all(
        len(p["scores"]) == 6
        for p in classify(classifier, {"inputs": "hi", "parameters": {"top_k": 50}})["predictions"]
    )


def test_return_all_scores_returns_every_label(classifier):
    for scores in all_scores(classifier, TEXTS):
        assert sorted(scores) == sorted(TINY_LABELS)
        assert all(0 <= score <= 1 for score in scores.values())


def test_long_texts_are_truncated_to_the_model_length_not_refused(classifier):
    long_text = " ".join(["stupid"] * 5000)
    longer_text = long_text + " thanks" * 500
    truncated, also_truncated = all_scores(classifier, [long_text, longer_text])
    assert truncated == also_truncated  # both cut at 128 tokens: what follows cannot matter


def reference_scores(classifier, texts) -> np.ndarray:
    """One text per forward pass, no padding: what micro-batching must reproduce."""
    rows = []
    with torch.inference_mode():
        for text in texts:
            inputs = classifier.tokenizer(
                text, truncation=True, max_length=classifier.max_length, return_tensors="pt"
            )
            rows.append(torch.sigmoid(classifier.model(**inputs).logits)[0].numpy())
    return np.stack(rows)


def test_micro_batches_sorted_by_length_give_the_scores_of_one_text_at_a_time(classifier):
    texts = [" ".join(["you are a stupid idiot"] * n) for n in (1, 9, 3, 30, 2, 1, 12)] + TEXTS
    expected = reference_scores(classifier, texts)
    for size, tokens in [(32, 8192), (2, 64), (1, 1), (3, 10_000)]:
        batched = dataclasses.replace(classifier, max_batch_size=size, max_batch_tokens=tokens)
        np.testing.assert_allclose(batched.score(texts), expected, atol=1e-5)


@given(
    lengths=st.lists(st.integers(min_value=1, max_value=512), min_size=1, max_size=300),
    max_batch_size=st.integers(min_value=1, max_value=64),
    max_batch_tokens=st.integers(min_value=1, max_value=20_000),
)
def test_micro_batches_cover_every_text_once_within_both_limits(lengths, max_batch_size, max_batch_tokens):
    sorted_lengths = np.array(sorted(lengths, reverse=True))
    runs = list(handler.micro_batches(sorted_lengths, max_batch_size, max_batch_tokens))
    assert [i for run in runs for i in range(len(sorted_lengths))[run]] == list(range(len(lengths)))
    for run in runs:
        size = run.stop - run.start
        assert 1 <= size <= max_batch_size
        assert size == 1 or size * sorted_lengths[run.start] <= max_batch_tokens


def test_a_model_failure_is_a_500_with_a_json_body_and_no_internals(classifier, caplog):
    def broken_model(**_inputs):
        raise RuntimeError("CUDA out of memory (secret internals)")

    broken = dataclasses.replace(classifier, model=broken_model)
    with caplog.at_level(logging.ERROR, logger=handler.__name__):
        status, text = invoke(broken, json.dumps({"inputs": "hello"}))
    assert status == 500
    body = json.loads(text)
    ERROR_VALIDATOR.validate(body)
    assert body["error"] == "internal_error"
    assert "secret" not in text and "Traceback" not in text
    assert "CUDA out of memory" in caplog.text  # the endpoint's log has it


# ---------------------------------------------------------------- formats


def test_jsonlines_request_gets_one_response_line_per_request_line(classifier):
    body = (
        "\n".join(
            [
                json.dumps("you are a stupid idiot"),
                json.dumps({"inputs": ["hello", "thanks"], "parameters": {"threshold": 0}}),
            ]
        )
        + "\n"
    )
    status, text = invoke(classifier, body.encode(), content_type="application/jsonlines")
    assert status == 200
    lines = [json.loads(line) for line in text.splitlines()]
    for line in lines:
        RESPONSE_VALIDATOR.validate(line)
    assert [len(line["predictions"]) for line in lines] == [1, 2]
    assert lines[0]["thresholds"] == classifier.thresholds
    assert lines[1]["thresholds"] == dict.fromkeys(TINY_LABELS, 0)


def test_csv_rows_are_texts_answered_as_one_json_or_one_line_per_row(classifier):
    texts = ["you are, like, stupid", 'he said "hi"\nand left', "hello"]
    body = "".join(f'"{text.replace(chr(34), 2 * chr(34))}"\r\n' for text in texts)
    status, text = invoke(classifier, body, content_type="text/csv")
    assert status == 200
    response = json.loads(text)
    RESPONSE_VALIDATOR.validate(response)
    expected = all_scores(classifier, texts)
    assert [p["labels"] for p in response["predictions"]] == [
        [label for label in scores if scores[label] >= classifier.thresholds[label]] for scores in expected
    ]
    status, text = invoke(classifier, body, content_type="text/csv", accept="application/jsonlines")
    assert status == 200
    assert len(text.splitlines()) == len(texts)


@pytest.mark.parametrize(
    ("content_type", "accept", "lines"),
    [
        ("application/json", "*/*", None),
        ("application/json; charset=utf-8", "application/json; charset=utf-8", None),
        ("application/json", "text/html, application/json;q=0.9", None),
        ("application/json", "application/jsonlines", 1),
        ("application/x-jsonlines", "application/json", 1),
    ],
)
def test_content_type_and_accept_variants(classifier, content_type, accept, lines):
    status, text = invoke(classifier, b'{"inputs": "hello"}', content_type=content_type, accept=accept)
    assert status == 200
    if lines is None:
        RESPONSE_VALIDATOR.validate(json.loads(text))
    else:
        assert text.endswith("\n") and len(text.splitlines()) == lines


# ---------------------------------------------------------------- bad input

TOO_MANY = json.dumps({"inputs": ["hello"] * 257})

# fmt: off
BAD_REQUESTS = [
    # (body, content type, accept, status, error code, what the message names)
    (b"", "application/json", None, 400, "empty_body", "empty"),
    (None, "application/json", None, 400, "empty_body", "empty"),
    ("  \n", "application/json", None, 400, "empty_body", "empty"),
    (b'{"inputs": "caf\xe9"}', "application/json; charset=utf-8", None, 400, "invalid_encoding", "0xe9 at offset 15"),
    ('{"inputs": "hello"', "application/json", None, 400, "malformed_json", "line 1, column 19"),
    ('{"inputs": "hello", "parameters": {"threshold": NaN}}', "application/json", None, 400, "malformed_json", "NaN"),
    ('["hello"]', "application/json", None, 400, "invalid_request", "expected object, got array"),
    ("{}", "application/json", None, 400, "missing_inputs", "inputs: is required"),
    ('{"text": "hello"}', "application/json", None, 400, "missing_inputs", "inputs: is required"),
    ('{"inputs": []}', "application/json", None, 400, "empty_inputs", "inputs: must have at least 1"),
    ('{"inputs": ""}', "application/json", None, 400, "empty_input", "inputs: must be at least 1"),
    ('{"inputs": ["hello", " \\t "]}', "application/json", None, 400, "empty_input", "inputs[1]: must contain a non-whitespace"),
    ('{"inputs": ["hello", 3]}', "application/json", None, 400, "invalid_input_type", "inputs[1]: expected string, got integer"),
    ('{"inputs": {"text": "hello"}}', "application/json", None, 400, "invalid_input_type", "expected string or array, got object"),
    ('{"inputs": null}', "application/json", None, 400, "invalid_input_type", "got null"),
    (TOO_MANY, "application/json", None, 400, "too_many_inputs", "has 257 items, at most 256"),
    ('{"inputs": "hi", "parameters": {"thresholds": {"spam": 0.2}}}', "application/json", None, 400, "unknown_label", "['spam']"),
    ('{"inputs": "hi", "parameters": {"threshold": 1.5}}', "application/json", None, 400, "invalid_threshold", "parameters.threshold: 1.5 is greater than the maximum 1"),
    ('{"inputs": "hi", "parameters": {"thresholds": {"toxic": -0.1}}}', "application/json", None, 400, "invalid_threshold", "parameters.thresholds.toxic: -0.1 is less"),
    ('{"inputs": "hi", "parameters": {"threshold": "0.5"}}', "application/json", None, 400, "invalid_threshold", "expected number, got string"),
    ('{"inputs": "hi", "parameters": {"top_k": 0}}', "application/json", None, 400, "invalid_parameter", "parameters.top_k"),
    ('{"inputs": "hi", "parameters": {"top_k": 2.5}}', "application/json", None, 400, "invalid_parameter", "expected integer, got number"),
    ('{"inputs": "hi", "parameters": {"return_all_scores": "yes"}}', "application/json", None, 400, "invalid_parameter", "expected boolean"),
    ('{"inputs": "hi", "parameters": {"temperature": 2}}', "application/json", None, 400, "unknown_parameter", "parameters.temperature"),
    ('{"inputs": "hi", "model": "x"}', "application/json", None, 400, "unknown_field", "model: is not an allowed field"),
    ('{"inputs": "hi"}', "text/plain", None, 415, "unsupported_content_type", "'text/plain'"),
    ('{"inputs": "hi"}', None, None, 415, "unsupported_content_type", "Content-Type header missing"),
    ('{"inputs": "hi"}', "application/json; charset=latin-1", None, 415, "unsupported_charset", "latin-1"),
    ('{"inputs": "hi"}', "application/json", "text/html", 406, "unsupported_accept", "'text/html'"),
    ('"hello"\n\n"again"\n', "application/jsonlines", None, 400, "malformed_json", "line 2: empty line"),
    ('"hello"\n[1, 2]\n', "application/jsonlines", None, 400, "invalid_request", "line 2: expected a request object"),
    ('"hello"\n{"inputs": [""]}\n', "application/jsonlines", None, 400, "empty_input", "line 2: inputs[0]"),
    ('"hello"\n{"inputs": "x"\n', "application/jsonlines", None, 400, "malformed_json", "line 2: malformed JSON"),
    ("hello\nyou are, like, stupid\n", "text/csv", None, 400, "malformed_csv", "row 2: 3 columns"),
    ("hello\n\nagain\n", "text/csv", None, 400, "empty_input", "row 2: the text is empty"),
    ('"unterminated\n', "text/csv", None, 400, "malformed_csv", "malformed CSV at line 1"),
]
# fmt: on


@pytest.mark.parametrize(("body", "content_type", "accept", "status", "code", "named"), BAD_REQUESTS)
def test_bad_input_gets_a_4xx_json_error_naming_the_problem(
    classifier, body, content_type, accept, status, code, named
):
    answered, text = invoke(classifier, body, content_type=content_type, accept=accept or "application/json")
    error = json.loads(text)
    ERROR_VALIDATOR.validate(error)
    assert (answered, error["error"]) == (status, code), error
    assert named in error["message"]


def test_the_artifact_of_the_training_entry_point_is_served_with_its_tuned_thresholds(trained_artifact_dir):
    classifier = handler.model_fn(str(trained_artifact_dir))
    config = json.loads((trained_artifact_dir / "config.json").read_text())
    assert classifier.labels == [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    document = json.loads((trained_artifact_dir / "thresholds.json").read_text())
    tuned, fallback = document["thresholds"], document["fallback"]
    assert classifier.thresholds == {label: tuned.get(label, fallback) for label in classifier.labels}
    response = classify(classifier, {"inputs": TEXTS, "parameters": {"return_all_scores": True}})
    for prediction in response["predictions"]:
        scores = prediction["scores"]
        assert prediction["labels"] == [
            label for label in scores if scores[label] >= classifier.thresholds[label]
        ]
