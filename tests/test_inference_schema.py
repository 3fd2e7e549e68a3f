"""The handler's own draft-04 validator (the inference DLC has no jsonschema) agrees with jsonschema on the request
schema, so the container, the API Gateway model and the local front door cannot drift apart."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from inference import inference as handler

SCHEMA_DIR = handler.REQUEST_SCHEMA_PATH.parent
REFERENCE = jsonschema.Draft4Validator(handler.REQUEST_SCHEMA)

texts = st.one_of(
    st.text(min_size=1, max_size=8).filter(str.strip),
    st.sampled_from(["hello", "a b", "\u00a0x", "", " ", "\t\n", "\u00a0", "\u2028"]),
)
numbers = st.one_of(
    st.integers(min_value=-3, max_value=300),
    st.floats(min_value=-2, max_value=3, allow_nan=False),
    st.sampled_from([0, 1, 0.0, 1.0, 2.0]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, texts),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["a", "inputs", "toxic"]), children, max_size=3),
    ),
    max_leaves=8,
)


def usually(strategy, junk=json_values):
    """Mostly values of the right kind, sometimes anything: both sides of each keyword get exercised."""
    return st.one_of(strategy, strategy, strategy, junk)


parameters = st.fixed_dictionaries(
    {},
    optional={
        "threshold": usually(numbers),
        "thresholds": usually(
            st.dictionaries(st.sampled_from(["toxic", "insult"]), usually(numbers), max_size=2)
        ),
        "top_k": usually(st.integers(min_value=-1, max_value=5), numbers),
        "return_all_scores": usually(st.booleans()),
    },
)
inputs = st.one_of(
    texts,
    st.lists(texts, max_size=5),
    st.lists(usually(texts), max_size=3),
    st.integers(min_value=254, max_value=258).map(lambda n: ["x"] * n),
    json_values,
)
requests = st.one_of(
    st.fixed_dictionaries({"inputs": inputs}, optional={"parameters": usually(parameters)}),
    st.fixed_dictionaries({"inputs": inputs, "parameters": parameters}),
    st.fixed_dictionaries({"inputs": inputs}, optional={"parameters": parameters, "extra": json_values}),
    json_values,
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
@example({"inputs": "hi", "parameters": {"top_k": 1.0}})  # draft-04: 1.0 is not an integer
@example({"inputs": "hi", "parameters": {"top_k": True}})  # nor is a boolean
@example({"inputs": "hi", "parameters": {"threshold": False}})
@example({"inputs": "\u00a0"})  # Unicode whitespace only
@example({"inputs": ["x"] * 256})
@example({"inputs": ["x"] * 257})
@example({"inputs": "hi", "parameters": {"thresholds": {"toxic": 1.0000001}}})
@example({"inputs": "hi", "parameters": None})
def test_handler_validator_agrees_with_jsonschema_on_the_request_schema(request):
    violations = list(handler.schema_violations(request, handler.REQUEST_SCHEMA))
    assert (not violations) == REFERENCE.is_valid(request), (request, violations)


def test_request_schema_is_valid_draft_04_and_uses_only_what_the_handler_validates():
    jsonschema.Draft4Validator.check_schema(handler.REQUEST_SCHEMA)
    handler.check_schema_keywords(handler.REQUEST_SCHEMA)


@pytest.mark.parametrize("name", ["response_schema.json", "error_schema.json"])
def test_response_schemas_are_valid_draft_04(name):
    jsonschema.Draft4Validator.check_schema(json.loads((SCHEMA_DIR / name).read_text()))


def test_a_keyword_the_handler_would_not_enforce_is_refused():
    schema = {"type": "object", "properties": {"inputs": {"type": "string", "maxLength": 10}}}
    with pytest.raises(ValueError, match="maxLength"):
        handler.check_schema_keywords(schema)


def test_validator_reports_the_alternative_the_instance_meant():
    (violation, *_) = handler.schema_violations({"inputs": ["ok", 7]}, handler.REQUEST_SCHEMA)
    assert (violation.location, violation.keyword) == ("inputs[1]", "type")
