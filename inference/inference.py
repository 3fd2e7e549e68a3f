"""Multi-label text classification handler for the SageMaker Hugging Face inference toolkit.

The toolkit imports this file as `code/inference.py` of model.tar.gz and calls its four hooks per request:
input_fn (parse + validate) -> predict_fn (score + decide) -> output_fn (serialize). It relies only on what the
Hugging Face inference DLC already has (torch, transformers, numpy, the standard library), so model.tar.gz needs
no code/requirements.txt and the endpoint installs nothing at start-up.

Bad input never becomes an exception: the toolkit answers every exception with its model server's own 400 body
(and would answer a model failure with a 400 too). Instead, a `RequestError` is *returned* by input_fn or
predict_fn, passed through, and rendered by output_fn as `{"error": "<code>", "message": "..."}`, with its HTTP
status set on the model server context.
"""

from __future__ import annotations

import csv
import http
import io
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

logger = logging.getLogger(__name__)

#: The request contract, shared with the API Gateway request model; it sits next to this file (code/ in the artifact).
REQUEST_SCHEMA_PATH = Path(__file__).with_name("request_schema.json")

#: Environment settings (container environment of the SageMaker model) and their defaults.
MAX_BATCH_SIZE_ENV = "CLASSIFIER_MAX_BATCH_SIZE"  # texts per forward pass
MAX_BATCH_TOKENS_ENV = "CLASSIFIER_MAX_BATCH_TOKENS"  # padded tokens (texts x longest) per forward pass
DEFAULT_MAX_BATCH_SIZE = 32
#: Per device type: a GPU's cost is per forward pass (fill it), a CPU's is per padded token (pad little).
DEFAULT_MAX_BATCH_TOKENS = {"cuda": 8192, "cpu": 256}

#: Decision threshold for labels that thresholds.json does not tune (or when the artifact has none).
DEFAULT_THRESHOLD = 0.5
THRESHOLDS_FILE = "thresholds.json"

JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"
#: Request media types (lower case, parameters stripped) -> the format they are parsed as.
REQUEST_FORMATS = {JSON: JSON, JSONLINES: JSONLINES, "application/x-jsonlines": JSONLINES, CSV: CSV}
#: Accept media types -> response format; None: the request's format (JSON, or JSON Lines for JSON Lines input).
RESPONSE_FORMATS = {
    JSONLINES: JSONLINES,
    "application/x-jsonlines": JSONLINES,
    JSON: None,
    "application/*": None,
    "*/*": None,
}
UTF8_CHARSETS = {"utf-8", "utf8", "us-ascii"}


# --------------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------------


class RequestError(Exception):
    """A request the endpoint answers with an HTTP error status and a JSON body naming the problem."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}

    def prefixed(self, where: str) -> RequestError:
        """The same error, located in a multi-record body (JSON Lines line, CSV row)."""
        return RequestError(self.status, self.code, f"{where}: {self.message}")


def bad_request(code: str, message: str) -> RequestError:
    return RequestError(400, code, message)


# --------------------------------------------------------------------------------------------------------------
# JSON Schema validation (the draft-04 subset that request_schema.json uses; jsonschema is not in the DLC)
# --------------------------------------------------------------------------------------------------------------

#: Keywords this validator enforces, and those it ignores because they only annotate.
VALIDATED_KEYWORDS = frozenset(
    {
        "type",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "minLength",
        "pattern",
        "minimum",
        "maximum",
        "oneOf",
    }
)
ANNOTATION_KEYWORDS = frozenset({"$schema", "title", "description"})
JSON_TYPES = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    # Draft-04: 1.0 is a number, not an integer; booleans are neither.
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
}

#: Plain words for the schema's patterns, for error messages.
PATTERN_MEANINGS = {r"\S": "contain a non-whitespace character"}


@dataclass(frozen=True)
class Violation:
    """One way an instance fails a schema: where (path from the root), which keyword, and a readable message."""

    path: tuple[str | int, ...]
    keyword: str
    message: str

    @property
    def location(self) -> str:
        text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in self.path)
        return text.lstrip(".") or "request body"


def check_schema_keywords(schema: Any) -> None:
    """Refuse a schema that uses a keyword this validator would silently skip (the schema is shared: it may grow)."""
    if not isinstance(schema, dict):
        return
    unknown = set(schema) - VALIDATED_KEYWORDS - ANNOTATION_KEYWORDS
    if unknown:
        raise ValueError(
            f"{REQUEST_SCHEMA_PATH.name} uses keywords the handler does not validate: {sorted(unknown)}"
        )
    for key in ("items", "additionalProperties"):
        check_schema_keywords(schema.get(key))
    for subschema in [*schema.get("properties", {}).values(), *schema.get("oneOf", [])]:
        check_schema_keywords(subschema)


def _type_name(value: Any) -> str:
    return next(
        name
        for name in ("boolean", "integer", "number", "string", "array", "object", "null")
        if JSON_TYPES[name](value)
    )


def _types_accepted(schema: dict) -> list[str]:
    declared = schema.get("type", list(JSON_TYPES))
    return [declared] if isinstance(declared, str) else declared


def schema_violations(instance: Any, schema: dict, path: tuple[str | int, ...] = ()) -> Iterator[Violation]:
    """Yield the ways `instance` fails `schema`, most fundamental first (a wrong type hides everything else)."""
    accepted = _types_accepted(schema)
    if not any(JSON_TYPES[name](instance) for name in accepted):
        yield Violation(path, "type", f"expected {' or '.join(accepted)}, got {_type_name(instance)}")
        return
    if "oneOf" in schema:
        yield from _one_of_violations(instance, schema["oneOf"], path)
    if isinstance(instance, str):
        if len(instance) < schema.get("minLength", 0):
            yield Violation(path, "minLength", f"must be at least {schema['minLength']} character(s) long")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            meaning = PATTERN_MEANINGS.get(schema["pattern"], f"match the pattern {schema['pattern']!r}")
            yield Violation(path, "pattern", f"must {meaning}")
    if JSON_TYPES["number"](instance):
        if "minimum" in schema and instance < schema["minimum"]:
            yield Violation(path, "minimum", f"{instance} is less than the minimum {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            yield Violation(path, "maximum", f"{instance} is greater than the maximum {schema['maximum']}")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            yield Violation(path, "minItems", f"must have at least {schema['minItems']} item(s)")
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            yield Violation(
                path, "maxItems", f"has {len(instance)} items, at most {schema['maxItems']} are allowed"
            )
        if "items" in schema:
            for index, item in enumerate(instance):
                yield from schema_violations(item, schema["items"], (*path, index))
    if isinstance(instance, dict):
        yield from _object_violations(instance, schema, path)


def _object_violations(instance: dict, schema: dict, path: tuple[str | int, ...]) -> Iterator[Violation]:
    for name in schema.get("required", []):
        if name not in instance:
            yield Violation((*path, name), "required", "is required")
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name, value in instance.items():
        if name in properties:
            yield from schema_violations(value, properties[name], (*path, name))
        elif extra is False:
            allowed = ", ".join(properties)
            yield Violation(
                (*path, name), "additionalProperties", f"is not an allowed field (allowed: {allowed})"
            )
        elif isinstance(extra, dict):
            yield from schema_violations(value, extra, (*path, name))


def _one_of_violations(
    instance: Any, choices: list[dict], path: tuple[str | int, ...]
) -> Iterator[Violation]:
    failures = [list(schema_violations(instance, choice, path)) for choice in choices]
    matching = sum(not failure for failure in failures)
    if matching == 1:
        return
    if matching == 0:
        # Report the alternative meant by the instance's type (an array for an array), as a person would.
        meant = [
            failure
            for choice, failure in zip(choices, failures, strict=True)
            if any(JSON_TYPES[name](instance) for name in _types_accepted(choice))
        ]
        if len(meant) == 1:
            yield from meant[0]
            return
        kinds = " or ".join(name for choice in choices for name in _types_accepted(choice))
        yield Violation(path, "oneOf", f"expected {kinds}, got {_type_name(instance)}")
    else:
        yield Violation(path, "oneOf", "matches more than one of the allowed forms")


def _error_code(violation: Violation) -> str:
    """The short error code clients branch on, for a request-schema violation."""
    field_name = violation.path[0] if violation.path else None
    if field_name == "inputs":
        return {
            "required": "missing_inputs",
            "maxItems": "too_many_inputs",
            "minItems": "empty_inputs",
            "minLength": "empty_input",
            "pattern": "empty_input",
        }.get(violation.keyword, "invalid_input_type")
    if field_name == "parameters":
        if violation.keyword == "additionalProperties":
            return "unknown_parameter"
        return (
            "invalid_threshold"
            if violation.path[1:2] in {("threshold",), ("thresholds",)}
            else "invalid_parameter"
        )
    return "unknown_field" if violation.keyword == "additionalProperties" else "invalid_request"


def load_request_schema(path: Path = REQUEST_SCHEMA_PATH) -> dict:
    schema = json.loads(path.read_text(encoding="utf-8"))
    check_schema_keywords(schema)
    return schema


REQUEST_SCHEMA = load_request_schema()


def validate_request(request: Any) -> None:
    """Raise the RequestError for the first way `request` breaks the request schema."""
    violation = next(schema_violations(request, REQUEST_SCHEMA), None)
    if violation is not None:
        raise bad_request(_error_code(violation), f"{violation.location}: {violation.message}")


# --------------------------------------------------------------------------------------------------------------
# Requests (input_fn)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifyRequest:
    """One request of the contract: texts (in order) and their optional parameters."""

    texts: list[str]
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Payload:
    """What one invocation carries: one request (JSON), or one per line (JSON Lines) or per row (CSV)."""

    requests: list[ClassifyRequest]
    request_format: str


def _request_format(content_type: str | None) -> str:
    if not content_type:
        raise RequestError(415, "unsupported_content_type", f"Content-Type header missing: send {JSON}")
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    if media_type not in REQUEST_FORMATS:
        supported = ", ".join(REQUEST_FORMATS)
        raise RequestError(
            415, "unsupported_content_type", f"Content-Type {media_type!r} is not supported: use {supported}"
        )
    charset = next(
        (value for name, _, value in (p.partition("=") for p in parameters) if name == "charset"), "utf-8"
    )
    if charset.strip('"') not in UTF8_CHARSETS:
        raise RequestError(415, "unsupported_charset", f"charset {charset!r} is not supported: send UTF-8")
    return REQUEST_FORMATS[media_type]


def _decode(body: bytes | bytearray | str | None) -> str:
    if isinstance(body, bytes | bytearray):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as error:
            raise bad_request(
                "invalid_encoding",
                f"the request body is not valid UTF-8 (byte 0x{error.object[error.start]:02x} at offset {error.start})",
            ) from None
    text = (body or "").removeprefix("\ufeff")
    if not text.strip():
        raise bad_request("empty_body", "the request body is empty")
    return text


def _reject_constant(name: str) -> None:
    raise bad_request("malformed_json", f"malformed JSON: {name} is not a JSON number")


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise bad_request(
            "malformed_json", f"malformed JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise bad_request("malformed_json", "malformed JSON: nested too deeply") from None


def _classify_request(request: Any) -> ClassifyRequest:
    validate_request(request)
    inputs = request["inputs"]
    return ClassifyRequest([inputs] if isinstance(inputs, str) else inputs, request.get("parameters", {}))


def _parse_json_body(text: str) -> list[ClassifyRequest]:
    return [_classify_request(_parse_json(text))]


def _parse_jsonlines_body(text: str) -> list[ClassifyRequest]:
    """One request object, or one text (a JSON string), per line."""
    lines = text.split("\n")
    if not lines[-1].strip():
        lines.pop()
    requests = []
    for number, line in enumerate(lines, start=1):
        try:
            if not line.strip():
                raise bad_request("malformed_json", "empty line (send one JSON value per line)")
            value = _parse_json(line)
            if not isinstance(value, str | dict):
                raise bad_request(
                    "invalid_request", f"expected a request object or a text string, got {_type_name(value)}"
                )
            requests.append(_classify_request({"inputs": value} if isinstance(value, str) else value))
        except RequestError as error:
            raise error.prefixed(f"line {number}") from None
    return requests


def _parse_csv_body(text: str) -> list[ClassifyRequest]:
    """One text per row, one column, no header (RFC 4180 quoting for texts with commas, quotes or newlines)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as error:
        raise bad_request("malformed_csv", f"malformed CSV at line {reader.line_num}: {error}") from None
    requests = []
    for number, row in enumerate(rows, start=1):
        try:
            if not row or not row[0].strip():
                raise bad_request("empty_input", "the text is empty")
            if len(row) > 1:
                raise bad_request(
                    "malformed_csv",
                    f"{len(row)} columns: send one text per row, quoted if it contains commas",
                )
            requests.append(_classify_request({"inputs": row[0]}))
        except RequestError as error:
            raise error.prefixed(f"row {number}") from None
    return requests


PARSERS = {JSON: _parse_json_body, JSONLINES: _parse_jsonlines_body, CSV: _parse_csv_body}


def input_fn(
    input_data: bytes | str | None, content_type: str | None, context: Any = None
) -> Payload | RequestError:
    """Parse and validate the request body; a bad one is returned (not raised) as the RequestError to answer."""
    try:
        request_format = _request_format(content_type)
        return Payload(PARSERS[request_format](_decode(input_data)), request_format)
    except RequestError as error:
        return error


# --------------------------------------------------------------------------------------------------------------
# The model (model_fn) and scoring
# --------------------------------------------------------------------------------------------------------------


def _positive_int_setting(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"environment variable {name} must be a positive integer, got {raw!r}")
    return int(raw)


def micro_batches(sorted_lengths: np.ndarray, max_batch_size: int, max_batch_tokens: int) -> Iterator[slice]:
    """Cut texts sorted by decreasing length into runs of at most max_batch_size texts and max_batch_tokens padded
    tokens (a run pads to its first, longest text; a text longer than the token budget still gets a run)."""
    start, total = 0, len(sorted_lengths)
    while start < total:
        size = max(1, min(max_batch_size, max_batch_tokens // int(sorted_lengths[start])))
        yield slice(start, min(start + size, total))
        start += size


@dataclass
class Classifier:
    """The loaded model with everything a request needs: labels, tuned thresholds and batching limits."""

    model: Any
    tokenizer: Any
    labels: list[str]
    thresholds: dict[str, float]
    device: torch.device
    max_length: int
    max_batch_size: int
    max_batch_tokens: int

    def __post_init__(self) -> None:
        self.pad_token_id = self.tokenizer.pad_token_id or 0
        self.pad_left = self.tokenizer.padding_side == "left"
        self.needs_token_type_ids = "token_type_ids" in self.tokenizer.model_input_names

    def score(self, texts: list[str]) -> np.ndarray:
        """Sigmoid score of every label for every text (rows in input order), in length-sorted micro-batches."""
        token_ids = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        lengths = np.fromiter(map(len, token_ids), dtype=np.int64, count=len(token_ids))
        order = np.argsort(-lengths, kind="stable")
        scores = np.empty((len(texts), len(self.labels)), dtype=np.float32)
        with torch.inference_mode():
            for run in micro_batches(lengths[order], self.max_batch_size, self.max_batch_tokens):
                rows = order[run]
                logits = self.model(
                    **self._padded_batch([token_ids[row] for row in rows], lengths[rows])
                ).logits
                scores[rows] = torch.sigmoid(logits.float()).cpu().numpy()
        return scores

    def _padded_batch(self, token_ids: list[list[int]], lengths: np.ndarray) -> dict[str, torch.Tensor]:
        width = int(lengths.max())
        input_ids = np.full((len(token_ids), width), self.pad_token_id, dtype=np.int64)
        positions = np.arange(width)
        mask = positions >= (width - lengths)[:, None] if self.pad_left else positions < lengths[:, None]
        input_ids[mask] = np.concatenate(token_ids)
        batch = {
            "input_ids": torch.from_numpy(input_ids).to(self.device),
            "attention_mask": torch.from_numpy(mask.astype(np.int64)).to(self.device),
        }
        if self.needs_token_type_ids:
            batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
        return batch


def _device(context: Any) -> torch.device:
    if not torch.cuda.is_available():
        return torch.device("cpu")
    gpu_id = context.system_properties.get("gpu_id") if context is not None else None
    return torch.device("cuda", int(gpu_id or 0))


def load_thresholds(model_dir: Path, labels: list[str]) -> tuple[dict[str, float], str]:
    """Per-label thresholds from thresholds.json (labels it does not tune get its fallback), and where they came from."""
    path = model_dir / THRESHOLDS_FILE
    if not path.exists():
        return dict.fromkeys(labels, DEFAULT_THRESHOLD), f"default {DEFAULT_THRESHOLD} (no {THRESHOLDS_FILE})"
    document = json.loads(path.read_text(encoding="utf-8"))
    tuned = document.get("thresholds") if isinstance(document, dict) else None
    if not isinstance(tuned, dict):
        raise ValueError(f'{path}: expected {{"thresholds": {{label: threshold}}, ...}}')
    fallback = document.get("fallback", DEFAULT_THRESHOLD)
    unknown = sorted(set(tuned) - set(labels))
    if unknown:
        raise ValueError(f"{path}: labels not in the model's config.json: {unknown}")
    thresholds = {label: tuned.get(label, fallback) for label in labels}
    invalid = {label: t for label, t in thresholds.items() if not (JSON_TYPES["number"](t) and 0 <= t <= 1)}
    if invalid:
        raise ValueError(f"{path}: thresholds must be numbers in [0, 1], got {invalid}")
    method = document.get("method", "unspecified")
    return thresholds, f"{THRESHOLDS_FILE} (method {method}, {len(tuned)} of {len(labels)} labels tuned)"


def model_fn(model_dir: str, context: Any = None) -> Classifier:
    """Load tokenizer, model, labels and thresholds; GPU and float16 when there is one; warm up once."""
    started = time.perf_counter()
    model_dir = Path(model_dir)
    device = _device(context)
    max_batch_size = _positive_int_setting(MAX_BATCH_SIZE_ENV, DEFAULT_MAX_BATCH_SIZE)
    max_batch_tokens = _positive_int_setting(MAX_BATCH_TOKENS_ENV, DEFAULT_MAX_BATCH_TOKENS[device.type])
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, torch_dtype=dtype).to(device).eval()
    config = model.config
    if config.problem_type != "multi_label_classification":
        raise ValueError(
            f"{model_dir}/config.json: problem_type is {config.problem_type!r}; this handler serves "
            "multi_label_classification models (one sigmoid per label)"
        )
    labels = [config.id2label[index] for index in range(config.num_labels)]
    thresholds, thresholds_source = load_thresholds(model_dir, labels)
    max_length = min(tokenizer.model_max_length, getattr(config, "max_position_embeddings", math.inf))
    classifier = Classifier(
        model, tokenizer, labels, thresholds, device, int(max_length), max_batch_size, max_batch_tokens
    )
    loaded = time.perf_counter()
    classifier.score(["warm-up"])
    logger.info(
        "Loaded %s from %s: %d labels %s; thresholds: %s; device %s, %s; max length %d tokens; micro-batches of "
        "at most %d texts and %d tokens; load %.2f s, warm-up %.3f s",
        type(model).__name__,
        model_dir,
        len(labels),
        labels,
        thresholds_source,
        device,
        str(dtype).removeprefix("torch."),
        classifier.max_length,
        max_batch_size,
        max_batch_tokens,
        loaded - started,
        time.perf_counter() - loaded,
    )
    return classifier


# --------------------------------------------------------------------------------------------------------------
# Decisions (predict_fn)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """The response of every request of the payload, in order, and the format they arrived in."""

    responses: list[dict[str, Any]]
    request_format: str


def resolve_thresholds(classifier: Classifier, parameters: dict[str, Any]) -> dict[str, float]:
    """Tuned thresholds, replaced by `threshold` when given, then overridden per label by `thresholds`."""
    overrides = parameters.get("thresholds", {})
    unknown = [label for label in overrides if label not in classifier.thresholds]
    if unknown:
        raise bad_request(
            "unknown_label",
            f"parameters.thresholds: unknown label(s) {unknown}; the model's labels are {classifier.labels}",
        )
    if "threshold" in parameters:
        base = dict.fromkeys(classifier.labels, parameters["threshold"])
    else:
        base = dict(classifier.thresholds)
    return base | overrides


def _response(
    classifier: Classifier, scores: np.ndarray, thresholds: dict[str, float], parameters: dict[str, Any]
) -> dict[str, Any]:
    """Labels at or above their threshold and the scores asked for (all, top_k, or those labels), best first."""
    threshold_row = np.array([thresholds[label] for label in classifier.labels], dtype=np.float32)
    ranked = np.argsort(-scores, axis=1, kind="stable")
    return_all = parameters.get("return_all_scores", False)
    top_k = parameters.get("top_k")
    predictions = []
    for text_scores, order in zip(scores.tolist(), ranked.tolist(), strict=True):
        positive = [index for index in order if text_scores[index] >= threshold_row[index]]
        shown = order if return_all else order[:top_k] if top_k else positive
        predictions.append(
            {
                "labels": [classifier.labels[index] for index in positive],
                "scores": {classifier.labels[index]: text_scores[index] for index in shown},
            }
        )
    return {"predictions": predictions, "thresholds": thresholds}


def predict_fn(
    data: Payload | RequestError, model: Classifier, context: Any = None
) -> Prediction | RequestError:
    """Score every text of the payload in one pass of micro-batches, then decide per request."""
    if isinstance(data, RequestError):
        return data
    try:
        thresholds = [resolve_thresholds(model, request.parameters) for request in data.requests]
    except RequestError as error:
        return error
    try:
        scores = model.score([text for request in data.requests for text in request.texts])
    except Exception:
        logger.exception("Scoring failed")
        return RequestError(
            500, "internal_error", "the model failed to score this request; see the endpoint logs"
        )
    responses, start = [], 0
    for request, request_thresholds in zip(data.requests, thresholds, strict=True):
        end = start + len(request.texts)
        responses.append(_response(model, scores[start:end], request_thresholds, request.parameters))
        start = end
    return Prediction(responses, data.request_format)


# --------------------------------------------------------------------------------------------------------------
# Responses (output_fn)
# --------------------------------------------------------------------------------------------------------------


def _response_format(accept: str | None, request_format: str) -> str:
    for media_type in (part.split(";")[0].strip().lower() for part in (accept or JSON).split(",")):
        if media_type in RESPONSE_FORMATS:
            return RESPONSE_FORMATS[media_type] or (JSONLINES if request_format == JSONLINES else JSON)
    raise RequestError(
        406, "unsupported_accept", f"cannot answer in {accept!r}: accept {JSON} or {JSONLINES}"
    )


def _error_response(error: RequestError, context: Any) -> str:
    logger.info("Answered %d %s: %s", error.status, error.code, error.message)
    if context is not None:
        context.set_response_status(error.status, http.HTTPStatus(error.status).phrase)
    return json.dumps(error.body())


def output_fn(prediction: Prediction | RequestError, accept: str | None, context: Any = None) -> str:
    """JSON (one document) or JSON Lines (one response per request line or CSV row); errors as JSON with status."""
    if isinstance(prediction, RequestError):
        return _error_response(prediction, context)
    try:
        response_format = _response_format(accept, prediction.request_format)
    except RequestError as error:
        return _error_response(error, context)
    responses = prediction.responses
    if response_format == JSONLINES:
        return "".join(json.dumps(response) + "\n" for response in responses)
    if len(responses) == 1:
        return json.dumps(responses[0])
    # Rows of one CSV body share the default parameters, hence one set of thresholds.
    return json.dumps(
        {
            "predictions": [p for r in responses for p in r["predictions"]],
            "thresholds": responses[0]["thresholds"],
        }
    )
