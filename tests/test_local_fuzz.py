"""Property-based fuzzing of the local front door from docs/openapi.json (schemathesis + Hypothesis).

Backend: the real handler (code/inference.py of a tiny model artifact) served by the SageMaker Hugging Face
inference toolkit and Multi Model Server, as the endpoint runs it, not a fake. Schema-valid requests pass the
front door's checks and reach the handler, so a request that the gateway lets through but that crashes the
model (a 5xx) is found here; the tiny random BERT keeps each request at milliseconds.

Per run: FUZZ_EXAMPLES schema-valid and as many schema-breaking bodies (schemathesis), plus malformed
requests on the HTTP level (any method, path, content type and bytes). `make fuzz` raises FUZZ_EXAMPLES.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from local.front_door import FrontDoor
from tools.openapi import OUTPUT

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
#: Generous timeouts: a shared, busy CI machine must not turn a slow answer into a 504 or a client timeout.
MODEL_TIMEOUT_SECONDS = 120
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
DOCUMENT = json.loads(OUTPUT.read_text(encoding="utf-8"))
ERROR_VALIDATOR = jsonschema.Draft4Validator(DOCUMENT["components"]["schemas"]["Error"])
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def front_door_url(tiny_model_server):
    with FrontDoor(tiny_model_server.url, timeout=MODEL_TIMEOUT_SECONDS) as door:
        yield door.url


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_generated_bodies_get_no_5xx_and_invalid_ones_a_4xx_error(front_door_url, mode):
    operation = schemathesis.openapi.from_dict(DOCUMENT)["/classify"]["POST"]
    session = requests.Session()
    statuses: Counter[int] = Counter()

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case):
        response = case.call(base_url=front_door_url, session=session, timeout=MODEL_TIMEOUT_SECONDS + 30)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    fuzz()
    assert sum(statuses.values()) >= FUZZ_EXAMPLES
    if mode is GenerationMode.POSITIVE:
        assert statuses[200] > FUZZ_EXAMPLES // 2, statuses  # most valid bodies are classified
    else:
        assert set(statuses) <= {400, 413, 415}, statuses


METHODS = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
PATHS = st.sampled_from(["/classify", "/", "/invocations", "/ping", "/classify/x", "/Classify"]) | st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#?%"), max_size=20
).map(lambda tail: "/" + tail)
CONTENT_TYPES = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "text/csv", "application/xml", ""]
)
BODIES = st.binary(max_size=300) | st.text(max_size=300).map(str.encode)


@FUZZ_SETTINGS
@given(method=METHODS, path=PATHS, content_type=CONTENT_TYPES, body=BODIES)
def test_malformed_http_requests_get_a_4xx_json_error(front_door_url, method, path, content_type, body):
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.request(
        method, front_door_url + path, data=body, headers=headers, timeout=MODEL_TIMEOUT_SECONDS + 30
    )
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code == 200:  # a body that happens to be a valid request
        assert (method, path) == ("POST", "/classify")
        return
    assert 400 <= response.status_code < 500
    assert response.headers["Content-Type"] == "application/json"
    if method != "HEAD":
        ERROR_VALIDATOR.validate(response.json())
