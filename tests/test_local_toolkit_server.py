"""The Java-free fallback server answers as Multi Model Server does, running the same toolkit handler."""

from __future__ import annotations

import json

import pytest
import requests
from mms.protocol.otf_message_handler import create_predict_response

from inference.local_server import free_port
from local.toolkit_server import WorkerReply, decode_predict_response, frontend_answer, serve_in_subprocess


class FakeContext:
    """What create_predict_response reads from MMS's Context after the handler ran."""

    def __init__(self, status, content_type, headers):
        self.status, self.content_type, self.headers = status, content_type, headers

    def get_response_content_type(self, idx):
        return self.content_type

    def get_response_status(self, idx):
        return self.status

    def get_response_headers(self, idx):
        return self.headers


def test_decodes_the_workers_reply_with_status_headers_and_body():
    context = FakeContext((400, "Bad Request"), "application/json", {"X-Extra": "1"})
    data = create_predict_response(
        ['{"error": "x", "message": "y"}'], {0: "req-1"}, "Prediction success", 200, context
    )
    assert decode_predict_response(bytes(data)) == WorkerReply(
        code=200,
        message="Prediction success",
        status=400,
        content_type="application/json",
        headers={"X-Extra": "1"},
        body=b'{"error": "x", "message": "y"}',
    )


def test_a_worker_failure_becomes_mms_frontends_error_body():
    reply = decode_predict_response(
        bytes(create_predict_response(None, {0: "req-1"}, "Prediction failed", 503))
    )
    status, content_type, body = frontend_answer(reply)
    assert (status, content_type) == (503, "application/json")
    assert json.loads(body) == {
        "code": 503,
        "type": "InternalServerException",
        "message": "Prediction failed",
    }


@pytest.fixture(scope="module")
def fallback_url(tiny_artifact_dir):
    with serve_in_subprocess(tiny_artifact_dir, free_port()) as url:
        yield url


REQUESTS = [
    (
        "/invocations",
        "application/json",
        b'{"inputs": ["you idiot", "have a nice day"], "parameters": {"top_k": 2}}',
    ),
    ("/invocations", "application/json", b'{"inputs": "one", "parameters": {"return_all_scores": true}}'),
    ("/invocations", "application/json", b'{"inputs": []}'),
    ("/invocations", "application/json", b'{"inputs": ["x"], "parameters": {"thresholds": {"nope": 0.5}}}'),
    ("/invocations", "application/json", b"{not json"),
    ("/invocations", "text/plain", b"hello"),
    ("/invocations", "application/jsonlines", b'"first"\n{"inputs": ["second"]}\n'),
]


@pytest.mark.slow
@pytest.mark.parametrize(("path", "content_type", "body"), REQUESTS)
def test_same_answers_as_multi_model_server(tiny_model_server, fallback_url, path, content_type, body):
    answers = [
        requests.post(base + path, data=body, headers={"Content-Type": content_type}, timeout=60)
        for base in (tiny_model_server.url, fallback_url)
    ]
    mms, fallback = answers
    assert fallback.status_code == mms.status_code
    assert fallback.headers["Content-Type"].split(";")[0] == mms.headers["Content-Type"].split(";")[0]
    # Same handler, same weights, same CPU kernels: the same answer, up to JSON formatting.
    assert parse_json_or_lines(fallback.text) == parse_json_or_lines(mms.text)


def parse_json_or_lines(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return [json.loads(line) for line in text.splitlines()]


@pytest.mark.slow
def test_ping_and_unknown_paths(tiny_model_server, fallback_url):
    for base in (tiny_model_server.url, fallback_url):
        assert requests.get(base + "/ping", timeout=10).json() == {"status": "Healthy"}
    unknown = [requests.get(base + "/nope", timeout=10) for base in (tiny_model_server.url, fallback_url)]
    assert unknown[0].status_code == unknown[1].status_code == 404
    assert unknown[0].json() == unknown[1].json()
