"""The handler under the real SageMaker Hugging Face inference toolkit (2.6.0), in process.

`HuggingFaceHandlerService` is what Multi Model Server's worker instantiates on the endpoint: `initialize` finds
code/inference.py in the model directory and replaces its default hooks with ours; `handle` answers each request
given an MMS `Context` carrying the request headers (as mms.service.Service builds it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest
from mms.context import Context, RequestProcessor
from mms.metrics.metrics_store import MetricsStore
from mms.service import PredictionException
from sagemaker_huggingface_inference_toolkit.handler_service import HuggingFaceHandlerService

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "inference"
SCHEMAS = {
    name: json.loads((SCHEMA_DIR / f"{name}_schema.json").read_text()) for name in ("response", "error")
}


@pytest.fixture(params=["tiny_artifact_dir", "trained_artifact_dir"])
def artifact_dir(request):
    """Each model artifact the project builds: the tiny test one, and the one the training entry point writes."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def service(artifact_dir, monkeypatch):
    """The toolkit's handler service, initialised on the artifact exactly as the MMS worker does it.

    The toolkit imports code/inference.py as the top-level module `inference`, which is this repository's package
    name in the test process: hide the package (and restore sys.path afterwards) so the artifact's file is loaded.
    """
    for name in [name for name in sys.modules if name == "inference" or name.startswith("inference.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "inference.py")
    monkeypatch.delenv("HF_TASK", raising=False)
    service = HuggingFaceHandlerService()
    service.initialize(Context("model", str(artifact_dir), None, 1, None, "1.1.11"))
    return service


def handle(service, body: bytes, headers: dict[str, str]):
    """One request as MMS hands it to the handler; returns (status, response content type, body text).

    Like mms.service.Service, it reuses the one Context given to `initialize` (the hooks received that object)
    and replaces its per-request parts."""
    context = service.context
    context.request_processor = [RequestProcessor(headers)]
    context.request_ids = {0: "request-0"}
    context.metrics = MetricsStore(context.request_ids, "model")
    (response,) = service.handle([{"body": body}], context)
    status, _phrase = context.get_response_status(0)
    return status, context.get_response_content_type(0), response


def test_the_toolkit_loads_our_hooks_from_code_inference_py(service, artifact_dir):
    for hook in (service.load, service.preprocess, service.predict, service.postprocess):
        assert hook.__code__.co_filename == str(artifact_dir / "code" / "inference.py")
    id2label = json.loads((artifact_dir / "config.json").read_text())["id2label"]
    assert service.model.labels == [id2label[str(index)] for index in range(len(id2label))]


def test_json_request_is_answered_with_the_response_contract(service):
    status, content_type, body = handle(
        service,
        json.dumps({"inputs": ["you are a stupid idiot", "thanks"], "parameters": {"top_k": 2}}).encode(),
        {"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert (status, content_type) == (200, "application/json")
    response = json.loads(body)
    jsonschema.validate(response, SCHEMAS["response"])
    assert len(response["predictions"]) == 2
    assert all(len(prediction["scores"]) == 2 for prediction in response["predictions"])


def test_batch_transform_formats_csv_and_jsonlines(service):
    status, _, body = handle(service, b'hello\n"you are, like, stupid"\n', {"Content-Type": "text/csv"})
    assert status == 200
    assert len(json.loads(body)["predictions"]) == 2
    status, content_type, body = handle(
        service,
        b'"hello"\n{"inputs": ["a b", "thanks"]}\n',
        {"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"},
    )
    assert (status, content_type) == (200, "application/jsonlines")
    assert [len(json.loads(line)["predictions"]) for line in body.splitlines()] == [1, 2]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'{"inputs": ', {"Content-Type": "application/json"}, 400, "malformed_json"),
        (b"", {"Content-Type": "application/json"}, 400, "empty_body"),
        (b'{"inputs": []}', {"Content-Type": "application/json"}, 400, "empty_inputs"),
        (
            b'{"inputs": "hi", "parameters": {"thresholds": {"nope": 0.1}}}',
            {"Content-Type": "application/json"},
            400,
            "unknown_label",
        ),
        (b'{"inputs": "hi"}', {"Content-Type": "application/xml"}, 415, "unsupported_content_type"),
        (
            b'{"inputs": "hi"}',
            {"Content-Type": "application/json", "Accept": "text/csv"},
            406,
            "unsupported_accept",
        ),
        (b'{"inputs": "\xff"}', {"Content-Type": "application/json; charset=utf-8"}, 400, "invalid_encoding"),
    ],
)
def test_bad_input_gets_its_status_and_json_error_through_the_toolkit(service, body, headers, status, code):
    answered, _, text = handle(service, body, headers)
    error = json.loads(text)
    jsonschema.validate(error, SCHEMAS["error"])
    assert (answered, error["error"]) == (status, code)


def test_invalid_utf8_under_exact_application_json_is_refused_by_the_toolkit_before_our_hooks(service):
    """Known toolkit behaviour (documented in docs/INFERENCE.md): it decodes `application/json` bodies itself, so
    this one case is a 400 with the model server's error body, not ours. This test notices if that changes."""
    with pytest.raises(PredictionException) as raised:
        handle(service, b'{"inputs": "\xff"}', {"Content-Type": "application/json"})
    assert raised.value.error_code == 400
    assert "utf-8" in raised.value.message
