"""The handler served for real: the toolkit's serving entry starts Multi Model Server (Java) on localhost, whose
Python worker loads code/inference.py from the artifact, as on the endpoint (inference/local_server.py)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import psutil
import pytest
import requests

from inference.local_server import serve_model_dir

pytestmark = pytest.mark.slow

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "inference"
RESPONSE_SCHEMA, ERROR_SCHEMA = (
    json.loads((SCHEMA_DIR / f"{n}_schema.json").read_text()) for n in ("response", "error")
)


def mms_processes() -> set[int]:
    return {
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if "com.amazonaws.ml.mms.ModelServer" in (p.info["cmdline"] or [])
    }


@pytest.fixture(scope="module")
def server(tiny_artifact_dir):
    with serve_model_dir(tiny_artifact_dir, env={"CLASSIFIER_MAX_BATCH_SIZE": "4"}) as running:
        yield running


def invoke(server, body, content_type="application/json", **headers):
    return requests.post(
        f"{server.url}/invocations", data=body, headers={"Content-Type": content_type, **headers}, timeout=60
    )


def test_ping_is_healthy(server):
    response = requests.get(f"{server.url}/ping", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "Healthy"}


def test_invocations_answers_json_per_the_response_contract(server):
    texts = ["you are a stupid idiot", "thanks", "a " * 2000, "hello", "i will find you", "nice"]
    response = invoke(server, json.dumps({"inputs": texts, "parameters": {"return_all_scores": True}}))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    jsonschema.validate(body, RESPONSE_SCHEMA)
    assert len(body["predictions"]) == len(texts)
    single = invoke(
        server, json.dumps({"inputs": texts[1], "parameters": {"return_all_scores": True}})
    ).json()
    assert single["predictions"][0]["scores"] == pytest.approx(body["predictions"][1]["scores"], abs=1e-5)
    assert "micro-batches of at most 4 texts" in server.log_tail(
        200_000
    )  # the container environment reached it


def test_jsonlines_for_batch_transform(server):
    response = invoke(server, b'"hello"\n"thanks"\n', "application/jsonlines", Accept="application/jsonlines")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/jsonlines"
    lines = response.text.splitlines()
    assert len(lines) == 2
    for line in lines:
        jsonschema.validate(json.loads(line), RESPONSE_SCHEMA)


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status", "code"),
    [
        (b"", "application/json", {}, 400, "empty_body"),
        (b'{"inputs": ["hello", ', "application/json", {}, 400, "malformed_json"),
        (b'{"inputs": ["hello", 42]}', "application/json", {}, 400, "invalid_input_type"),
        (json.dumps({"inputs": ["x"] * 300}).encode(), "application/json", {}, 400, "too_many_inputs"),
        (
            b'{"inputs": "hi", "parameters": {"thresholds": {"spam": 0.5}}}',
            "application/json",
            {},
            400,
            "unknown_label",
        ),
        (
            b'{"inputs": "hi", "parameters": {"threshold": 2}}',
            "application/json",
            {},
            400,
            "invalid_threshold",
        ),
        (b'{"inputs": "hi"}', "text/plain", {}, 415, "unsupported_content_type"),
        (b'{"inputs": "hi"}', "application/json", {"Accept": "image/png"}, 406, "unsupported_accept"),
    ],
)
def test_bad_input_gets_its_4xx_and_json_error(server, body, content_type, headers, status, code):
    response = invoke(server, body, content_type, **headers)
    assert response.status_code == status, response.text
    jsonschema.validate(response.json(), ERROR_SCHEMA)
    assert response.json()["error"] == code
    assert "Traceback" not in response.text


def test_invalid_utf8_as_exact_application_json_is_the_toolkits_400(server):
    """The toolkit decodes `application/json` bodies before the handler (docs/INFERENCE.md, known limitation)."""
    response = invoke(server, b'{"inputs": "\xff"}')
    assert response.status_code == 400
    assert "utf-8" in response.json()["message"]


def test_servers_run_side_by_side_and_stop_without_leftovers(server, tiny_artifact_dir):
    before = mms_processes()
    with serve_model_dir(tiny_artifact_dir) as second:
        assert second.port != server.port
        assert invoke(second, b'{"inputs": "hello"}').status_code == 200
        assert invoke(server, b'{"inputs": "hello"}').status_code == 200
        assert len(mms_processes() - before) == 1
        scratch = second.log_file.parent
    assert mms_processes() == before  # its Java process (and workers, same process group) are gone
    assert not scratch.exists()  # pid file, worker sockets and logs were private to it
    assert invoke(server, b'{"inputs": "hello"}').status_code == 200  # the first one was left alone
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{second.url}/ping", timeout=5)


def test_a_model_directory_without_config_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no config\.json"), serve_model_dir(tmp_path):
        pass


def test_the_training_entry_points_artifact_is_served(trained_artifact_dir):
    labels = json.loads((trained_artifact_dir / "config.json").read_text())["id2label"].values()
    with serve_model_dir(trained_artifact_dir) as trained:
        response = invoke(trained, json.dumps({"inputs": ["you are an idiot", "thanks!"]}))
        unknown = invoke(trained, b'{"inputs": "hi", "parameters": {"thresholds": {"no_such_label": 0.5}}}')
    assert response.status_code == 200, response.text
    body = response.json()
    jsonschema.validate(body, RESPONSE_SCHEMA)
    assert set(body["thresholds"]) == set(labels)
    assert (unknown.status_code, unknown.json()["error"]) == (400, "unknown_label")
