"""The API client against a scripted local HTTP server: body, splitting, retries, auth headers, errors."""

from __future__ import annotations

import json
from email.utils import formatdate
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from classifier_client import (
    ApiKeyAuth,
    AuthenticationError,
    Client,
    ConnectionFailedError,
    IamAuth,
    InvalidRequestError,
    ProtocolError,
    RequestTooLargeError,
    ServiceError,
    ThrottlingError,
)
from classifier_client.batching import MAX_BATCH_ITEMS, MAX_BODY_BYTES, split_requests
from classifier_client.client import retry_after_seconds
from tests.support.fake_http import FakeHttpServer

REQUEST_SCHEMA = json.loads((Path(__file__).parent.parent / "inference" / "request_schema.json").read_text())


def echo_model(request):
    """Follows the container contract: one prediction per input, labelled with the text so order is checkable."""
    inputs = request.json()["inputs"]
    predictions = [{"labels": [text], "scores": {text: 0.9}} for text in inputs]
    return 200, {}, {"predictions": predictions, "thresholds": {"toxic": 0.4}}


def always(*answer):
    """Answer every request the same way."""
    return lambda request: answer


def scripted(*answers):
    """Answer with each of `answers` in turn, then like the model."""
    queue = list(answers)
    return lambda request: queue.pop(0) if queue else echo_model(request)


class RecordedSleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_classify_sends_contract_body_and_returns_typed_predictions():
    with FakeHttpServer(echo_model) as server:
        result = Client(server.url).classify(
            ["you are an idiot", "thanks!"], thresholds={"toxic": 0.3}, top_k=2
        )
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/classify")
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {
        "inputs": ["you are an idiot", "thanks!"],
        "parameters": {"thresholds": {"toxic": 0.3}, "top_k": 2},
    }
    assert [p.text for p in result] == ["you are an idiot", "thanks!"]
    assert result[0].labels == ("you are an idiot",)
    assert result[1].scores == {"thanks!": 0.9}
    assert result.thresholds == {"toxic": 0.4}


def test_one_text_and_every_parameter():
    with FakeHttpServer(echo_model) as server:
        result = Client(server.url + "/classify").classify("hello", threshold=0.7, return_all_scores=True)
    assert server.requests[0].path == "/classify"
    assert server.requests[0].json() == {
        "inputs": ["hello"],
        "parameters": {"threshold": 0.7, "return_all_scores": True},
    }
    assert len(result) == 1


def test_long_list_is_split_at_the_batch_cap_and_merged_in_input_order():
    texts = [f"comment {i}" for i in range(2 * MAX_BATCH_ITEMS + 7)]
    with FakeHttpServer(echo_model) as server:
        result = Client(server.url).classify(texts)
    assert [len(r.json()["inputs"]) for r in server.requests] == [MAX_BATCH_ITEMS, MAX_BATCH_ITEMS, 7]
    assert [p.labels[0] for p in result] == texts


def test_batch_cap_matches_the_request_schema():
    assert REQUEST_SCHEMA["properties"]["inputs"]["oneOf"][1]["maxItems"] == MAX_BATCH_ITEMS


def test_body_limit_is_the_stricter_invoke_endpoint_limit():
    assert MAX_BODY_BYTES == 6 * 1024 * 1024


def test_split_by_payload_size_keeps_every_body_under_the_limit():
    texts = ["é" * 400 + str(i) for i in range(50)]  # 2 bytes a character in UTF-8
    with FakeHttpServer(echo_model) as server:
        result = Client(server.url, max_bytes=4000).classify(texts, threshold=0.5)
    assert len(server.requests) > 1
    assert all(len(r.body) <= 4000 for r in server.requests)
    assert [p.text for p in result] == texts


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(min_size=1, max_size=40), max_size=60),
    max_items=st.integers(1, 10),
    max_bytes=st.integers(200, 600),
    top_k=st.none() | st.integers(1, 5),
)
def test_split_is_exact_greedy_and_within_limits(texts, max_items, max_bytes, top_k):
    parameters = {"top_k": top_k} if top_k else {}
    batches = list(split_requests(texts, parameters, max_items, max_bytes))
    decoded = [json.loads(body) for _, _, body in batches]
    assert [text for body in decoded for text in body["inputs"]] == texts
    for (start, end, body), parsed in zip(batches, decoded, strict=True):
        assert parsed["inputs"] == texts[start:end]
        assert parsed.get("parameters", {}) == parameters
        assert len(body) <= max_bytes and 1 <= end - start <= max_items
        if end < len(texts) and end - start < max_items:  # greedy: the next text would not have fitted
            bigger = json.dumps(
                {"inputs": texts[start : end + 1], **({"parameters": parameters} if parameters else {})},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            assert len(bigger.encode()) > max_bytes


def test_a_text_too_large_for_any_request_is_refused_before_sending():
    with FakeHttpServer(echo_model) as server, pytest.raises(RequestTooLargeError, match="text #1 is"):
        Client(server.url, max_bytes=1000).classify(["short", "x" * 2000])
    assert server.requests == []


def test_5xx_is_retried_with_exponential_backoff_then_succeeds():
    sleeps = RecordedSleeps()
    answers = scripted((503, {}, {"error": "unavailable", "message": "busy"}), (500, {}, b"oops"))
    with FakeHttpServer(answers) as server:
        result = Client(server.url, sleep=sleeps, jitter=lambda: 1.0, backoff_base=0.5).classify(["a"])
    assert len(server.requests) == 3
    assert sleeps == [0.5, 1.0]
    assert result[0].labels == ("a",)


def test_backoff_is_jittered_and_capped():
    sleeps = RecordedSleeps()
    failing = always(502, {}, {"error": "integration_failure", "message": "bad gateway"})
    with FakeHttpServer(failing) as server:
        client = Client(
            server.url, sleep=sleeps, jitter=lambda: 0.5, backoff_base=1, backoff_max=3, max_attempts=5
        )
        with pytest.raises(ServiceError):
            client.classify(["a"])
    assert sleeps == [0.5, 1.0, 1.5, 1.5]  # 0.5 x min(3, 1, 2, 4, 8)


def test_429_waits_as_long_as_retry_after_says():
    sleeps = RecordedSleeps()
    answers = scripted((429, {"Retry-After": "3"}, {"error": "throttled", "message": "Too Many Requests"}))
    with FakeHttpServer(answers) as server:
        Client(server.url, sleep=sleeps, jitter=lambda: 0.0).classify(["a"])
    assert sleeps == [3.0]
    assert len(server.requests) == 2


def test_retry_after_as_http_date():
    assert retry_after_seconds(formatdate(1_000_010, usegmt=True), now=1_000_000) == pytest.approx(10)
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_throttling_after_every_attempt_raises_with_the_servers_body():
    throttled = always(
        429,
        {"x-amzn-RequestId": "req-1"},
        {"error": "throttled", "message": "slow down"},
    )
    with FakeHttpServer(throttled) as server, pytest.raises(ThrottlingError) as caught:
        Client(server.url, sleep=RecordedSleeps(), max_attempts=3).classify(["a"])
    assert len(server.requests) == 3
    assert (caught.value.status, caught.value.error, caught.value.message) == (429, "throttled", "slow down")
    assert "req-1" in str(caught.value)


def test_400_is_not_retried_and_carries_the_error_body():
    rejected = always(400, {}, {"error": "invalid_request", "message": "inputs: [] is too short"})
    with FakeHttpServer(rejected) as server, pytest.raises(InvalidRequestError) as caught:
        Client(server.url, sleep=RecordedSleeps()).classify(["a"])
    assert len(server.requests) == 1
    assert caught.value.error == "invalid_request"
    assert "too short" in str(caught.value)


def test_gateway_403_without_the_contract_shape_is_still_readable():
    forbidden = always(403, {}, {"message": "Missing Authentication Token"})
    with FakeHttpServer(forbidden) as server, pytest.raises(AuthenticationError) as caught:
        Client(server.url).classify(["a"])
    assert (caught.value.error, caught.value.message) == ("http_403", "Missing Authentication Token")


def test_connection_errors_are_retried_then_reported():
    with FakeHttpServer(echo_model) as server:
        url = server.url  # the port is closed once the block ends
    sleeps = RecordedSleeps()
    with pytest.raises(ConnectionFailedError, match="after 3 attempts"):
        Client(url, sleep=sleeps, max_attempts=3, timeout=2).classify(["a"])
    assert len(sleeps) == 2


def test_wrong_prediction_count_is_a_protocol_error():
    short = always(200, {}, {"predictions": [], "thresholds": {}})
    with FakeHttpServer(short) as server, pytest.raises(ProtocolError, match="sent 1 texts but got 0"):
        Client(server.url).classify(["a"])


def test_api_key_is_sent_as_x_api_key():
    with FakeHttpServer(echo_model) as server:
        Client(server.url, auth=ApiKeyAuth("k3y")).classify(["a"])
    assert server.requests[0].headers["x-api-key"] == "k3y"
    with pytest.raises(ValueError, match="non-empty API key"):
        ApiKeyAuth("")


def verify_sigv4(request, url: str, credentials: Credentials, region: str) -> bool:
    """Recompute the signature with botocore from what the server received (the headers the client signed)."""
    authorization = request.headers["Authorization"]
    signed_names = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    received = {name.lower(): value for name, value in request.headers.items()}
    unsigned = AWSRequest(method=request.method, url=url, data=request.body)
    for name in signed_names:
        unsigned.headers[name] = received[name]
    unsigned.context["timestamp"] = received["x-amz-date"]
    signer = SigV4Auth(credentials, "execute-api", region)
    string_to_sign = signer.string_to_sign(unsigned, signer.canonical_request(unsigned))
    return authorization.endswith("Signature=" + signer.signature(string_to_sign, unsigned))


def test_iam_auth_signs_with_botocore_sigv4_verifiably():
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
    with FakeHttpServer(echo_model) as server:
        Client(server.url, auth=IamAuth(region="eu-west-1", credentials=credentials)).classify(["sign me"])
    (request,) = server.requests
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in request.headers["Authorization"]
    assert request.headers["X-Amz-Security-Token"] == "session-token"
    url = server.url + "/classify"
    assert verify_sigv4(request, url, credentials, "eu-west-1")
    assert not verify_sigv4(
        request, url, Credentials("AKIDEXAMPLE", "another-secret", "session-token"), "eu-west-1"
    )
    tampered = type(request)(
        request.method, request.path, request.headers, request.body.replace(b"sign", b"SIGN")
    )
    assert not verify_sigv4(tampered, url, credentials, "eu-west-1")


def test_iam_auth_reads_the_standard_credential_chain(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    headers = IamAuth(region="us-east-1").headers("POST", "https://example.com/classify", b"{}", {})
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDFROMENV/")


def test_iam_auth_region_comes_from_the_execute_api_url():
    assert (
        IamAuth().resolve_region("https://abc123.execute-api.eu-central-1.amazonaws.com/prod")
        == "eu-central-1"
    )
    assert (
        IamAuth(region="us-west-2").resolve_region("https://abc123.execute-api.eu-central-1.amazonaws.com/p")
        == "us-west-2"
    )


def test_iam_auth_without_credentials_says_what_to_do(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ValueError, match="no AWS credentials"):
        IamAuth(region="us-east-1").headers("POST", "https://example.com/classify", b"{}", {})


def test_an_empty_list_sends_nothing():
    with FakeHttpServer(echo_model) as server:
        result = Client(server.url).classify([])
    assert (len(result), result.thresholds, server.requests) == (0, {}, [])
