"""The local front door answers like the API Gateway stage: routes, content type, size, schema, error mapping."""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import time

import pytest
import requests

from classifier_client import Client, InvalidRequestError, ServiceError
from local import front_door
from local.front_door import (
    MAX_BODY_BYTES,
    REQUEST_SCHEMA_PATH,
    Answer,
    FrontDoor,
    RequestChecker,
    container_error_answer,
)
from tests.support.fake_http import FakeHttpServer

CHECKER = RequestChecker(json.loads(REQUEST_SCHEMA_PATH.read_text()))


def model(request):
    """A fake model server following the container contract (/invocations, one prediction per input)."""
    if request.path != "/invocations":
        return 404, {}, {"error": "not_found", "message": request.path}
    inputs = request.json()["inputs"]
    inputs = [inputs] if isinstance(inputs, str) else inputs
    return (
        200,
        {},
        {
            "predictions": [{"labels": ["toxic"], "scores": {"toxic": 0.8}} for _ in inputs],
            "thresholds": {"toxic": 0.5},
        },
    )


def check(body, method="POST", path="/classify", content_type="application/json"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = CHECKER.check(method, path, content_type, raw)
    return answer and (answer.status, json.loads(answer.body))


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": "one text"},
        {"inputs": ["a", "b"], "parameters": {"threshold": 0.5, "thresholds": {"toxic": 1}, "top_k": 2}},
        {"inputs": ["a"], "parameters": {"return_all_scores": True}},
    ],
)
def test_valid_bodies_pass(body):
    assert check(body) is None


@pytest.mark.parametrize(
    ("body", "path_in_message"),
    [
        ({}, "body: 'inputs' is a required property"),
        ({"inputs": []}, "inputs"),
        ({"inputs": ["ok", "   "]}, "inputs"),
        ({"inputs": ["ok"], "parameters": {"top_k": 0}}, "parameters.top_k: 0 is less than the minimum of 1"),
        (
            {"inputs": ["ok"], "parameters": {"thresholds": {"toxic": 1.5}}},
            "parameters.thresholds.toxic: 1.5 is greater",
        ),
        ({"inputs": ["ok"], "extra": 1}, "Additional properties are not allowed ('extra' was unexpected)"),
        ({"inputs": ["x"] * 257}, "inputs"),
    ],
)
def test_schema_violations_are_400_invalid_request_naming_the_field(body, path_in_message):
    status, error = check(body)
    assert status == 400
    assert error["error"] == "invalid_request"
    assert path_in_message in error["message"]


@pytest.mark.parametrize("raw", [b"{", b"", b"\xff\xfe", b'{"inputs": NaN}', b"[" * 100_000])
def test_malformed_json_is_400(raw):
    status, error = check(raw)
    assert (status, error["error"]) == (400, "invalid_request")
    assert error["message"].startswith("body is not valid UTF-8 JSON")


def test_long_values_are_not_echoed_in_full():
    status, error = check({"inputs": 12345, "parameters": {"thresholds": {"x" * 5000: 2}}})
    assert status == 400
    assert len(error["message"]) <= 300


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/classify"), ("POST", "/"), ("POST", "/invocations"), ("DELETE", "/classify")],
)
def test_other_routes_are_403_missing_authentication_token(method, path):
    status, error = check({"inputs": "x"}, method=method, path=path)
    assert (status, error["error"]) == (403, "missing_authentication")
    assert f"{method} {path}" in error["message"]


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"]
)
def test_other_content_types_are_415(content_type):
    status, error = check({"inputs": "x"}, content_type=content_type)
    assert (status, error["error"]) == (415, "unsupported_media_type")


def test_json_with_charset_is_accepted():
    assert check({"inputs": "x"}, content_type="Application/JSON; charset=utf-8") is None


def test_container_4xx_becomes_400_with_the_containers_error_body():
    body = b'{"error": "unknown_label", "message": "parameters.thresholds: unknown label(s) [x]"}'
    assert container_error_answer(422, body) == Answer(400, body)
    wrapped = container_error_answer(400, b"plain text refusal")
    assert (wrapped.status, json.loads(wrapped.body)) == (
        400,
        {"error": "invalid_request", "message": "plain text refusal"},
    )


def test_container_5xx_becomes_502_without_internals():
    answer = container_error_answer(
        500, b'Traceback (most recent call last): File "/opt/ml/model/code/inference.py"'
    )
    assert answer.status == 502
    assert json.loads(answer.body) == {
        "error": "model_error",
        "message": "The model could not process the request.",
    }


def test_valid_requests_reach_invocations_unchanged_and_the_answer_comes_back():
    with FakeHttpServer(model) as backend, FrontDoor(backend.url) as door:
        body = b'{"inputs": ["you idiot", "hello"],  "parameters": {"top_k": 1}}'
        response = requests.post(
            door.url + "/classify", data=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["x-amzn-RequestId"]
    assert len(response.json()["predictions"]) == 2
    (forwarded,) = backend.requests
    assert (forwarded.method, forwarded.path, forwarded.body) == ("POST", "/invocations", body)
    assert forwarded.headers["Content-Type"] == "application/json"


def test_invalid_requests_never_reach_the_model():
    with FakeHttpServer(model) as backend, FrontDoor(backend.url) as door:
        session = requests.Session()  # one keep-alive connection for all of them
        answers = [
            session.post(door.url + "/classify", json={"inputs": []}),
            session.get(door.url + "/classify"),
            session.post(door.url + "/classify", data="inputs=x", headers={"Content-Type": "text/plain"}),
            session.post(door.url + "/classify", json={"inputs": "still served after errors"}),
        ]
    assert [a.status_code for a in answers] == [400, 403, 415, 200]
    assert all(a.headers["Content-Type"] == "application/json" for a in answers)
    assert len(backend.requests) == 1


def test_bodies_over_10_mb_are_413():
    with FakeHttpServer(model) as backend, FrontDoor(backend.url) as door:
        too_big = b'{"inputs": "' + b"a" * MAX_BODY_BYTES + b'"}'
        response = requests.post(
            door.url + "/classify", data=too_big, headers={"Content-Type": "application/json"}
        )
    assert (response.status_code, response.json()["error"]) == (413, "request_too_large")
    assert backend.requests == []


def test_chunked_bodies_and_garbage_request_lines_get_json_errors():
    with FakeHttpServer(model) as backend, FrontDoor(backend.url) as door:
        chunked = requests.post(
            door.url + "/classify",
            data=iter([b'{"inputs": "x"}']),
            headers={"Content-Type": "application/json"},
        )
        port = int(door.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(b"BREW /classify HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = b"".join(iter(lambda: raw.recv(4096), b"")).decode()  # until the server closes
    assert (chunked.status_code, chunked.json()["error"]) == (411, "client_error")
    status_line, _, body = reply.partition("\r\n\r\n")
    assert status_line.startswith("HTTP/1.1 501")
    assert json.loads(body)["error"] == "client_error"


def test_model_server_failures_map_to_502_503_504():
    def crashing(request):
        return 500, {}, b"Traceback: secret internals"

    def slow(request):
        time.sleep(1.5)
        return model(request)

    with FakeHttpServer(crashing) as backend, FrontDoor(backend.url) as door:
        crashed = requests.post(door.url + "/classify", json={"inputs": "x"})
    with FakeHttpServer(model) as backend:
        down_url = backend.url
    with FrontDoor(down_url) as door:
        down = requests.post(door.url + "/classify", json={"inputs": "x"})
    with FakeHttpServer(slow) as backend, FrontDoor(backend.url, timeout=0.5) as door:
        timed_out = requests.post(door.url + "/classify", json={"inputs": "x"})
    assert (crashed.status_code, crashed.json()["error"]) == (502, "model_error")
    assert "secret" not in crashed.text
    assert (down.status_code, down.json()["error"]) == (503, "service_unavailable")
    assert (timed_out.status_code, timed_out.json()["error"]) == (504, "timeout")


def test_the_client_talks_to_the_front_door():
    with FakeHttpServer(model) as backend, FrontDoor(backend.url) as door:
        client = Client(door.url, max_attempts=1)
        result = client.classify(["a", "b", "c"], thresholds={"toxic": 0.2})
        with pytest.raises(InvalidRequestError) as rejected:
            client.classify(["a"], top_k=0)
    assert [p.labels for p in result] == [("toxic",)] * 3
    assert (rejected.value.status, rejected.value.error) == (400, "invalid_request")
    assert "parameters.top_k" in rejected.value.message
    with FrontDoor(backend.url) as door, pytest.raises(ServiceError) as unavailable:
        Client(door.url, max_attempts=2, sleep=lambda seconds: None).classify(["a"])
    assert unavailable.value.status == 503


def test_error_codes_and_messages_are_the_deployed_stages():
    """The stage's gateway and integration responses (stacks/api.py) and the front door's must not drift."""
    from stacks import api

    gateway = {name: code for name, (code, _) in api.GATEWAY_ERRORS.items()}
    assert gateway["BAD_REQUEST_BODY"] == front_door.INVALID_REQUEST
    assert gateway["MISSING_AUTHENTICATION_TOKEN"] == front_door.MISSING_AUTHENTICATION
    assert gateway["REQUEST_TOO_LARGE"] == front_door.REQUEST_TOO_LARGE
    assert gateway["DEFAULT_4XX"] == front_door.CLIENT_ERROR
    fixed = {
        "UNSUPPORTED_MEDIA_TYPE": front_door.UNSUPPORTED_MEDIA_TYPE,
        "INTEGRATION_TIMEOUT": front_door.TIMEOUT,
    }
    for name, (code, message) in fixed.items():
        assert api.GATEWAY_ERRORS[name] == (code, json.dumps(message))
    assert json.loads(api.UNAVAILABLE_BODY) == dict(
        zip(("error", "message"), front_door.UNAVAILABLE, strict=True)
    )
    model_error = next(line for line in api.MODEL_ERROR_TEMPLATE.splitlines() if "model_error" in line)
    assert json.loads(model_error) == dict(zip(("error", "message"), front_door.MODEL_ERROR, strict=True))
    assert '{"error": "invalid_request"' in api.MODEL_ERROR_TEMPLATE  # a container 4xx that is not JSON


def test_a_client_that_hangs_up_early_is_not_logged_as_a_server_error(monkeypatch):
    """Only the front door's own error reports count (other servers' threads may still be printing)."""
    reported = []

    def record(server, request, client_address):
        if isinstance(server, front_door._Server):
            reported.append(sys.exc_info()[1])

    monkeypatch.setattr(socketserver.BaseServer, "handle_error", record)

    def slow(request):
        time.sleep(0.6)
        return model(request)

    with FakeHttpServer(slow) as backend, FrontDoor(backend.url) as door:
        with pytest.raises(requests.Timeout):
            requests.post(door.url + "/classify", json={"inputs": "x"}, timeout=0.2)
        time.sleep(1.0)  # the front door answers into the closed connection meanwhile
        assert requests.post(door.url + "/classify", json={"inputs": "x"}, timeout=5).status_code == 200
    assert reported == []
