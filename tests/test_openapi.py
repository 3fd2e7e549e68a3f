"""docs/openapi.json: generated from the inference schemas, valid OpenAPI 3.0, and committed up to date."""

from __future__ import annotations

import json

import jsonschema
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_30

from tools.openapi import (
    ERROR_SCHEMA,
    OUTPUT,
    REQUEST_SCHEMA,
    RESPONSE_SCHEMA,
    UnsupportedSchema,
    build_openapi,
    render,
    to_openapi_schema,
)


def load(path):
    schema = json.loads(path.read_text())
    schema.pop("$schema")
    return schema


@pytest.fixture(scope="module")
def document():
    return build_openapi(
        *(json.loads(p.read_text()) for p in (REQUEST_SCHEMA, RESPONSE_SCHEMA, ERROR_SCHEMA)), "9.9.9"
    )


def test_document_is_valid_openapi_3_0(document):
    jsonschema.Draft4Validator(OPENAPI_30).validate(document)


def test_bodies_are_the_inference_schemas_verbatim(document):
    schemas = document["components"]["schemas"]
    assert schemas["ClassifyRequest"] == load(REQUEST_SCHEMA)
    assert schemas["ClassifyResponse"] == load(RESPONSE_SCHEMA)
    assert schemas["Error"] == load(ERROR_SCHEMA)
    body = document["paths"]["/classify"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ClassifyRequest"}


def test_every_error_status_has_the_error_body_and_security_offers_sigv4_or_api_key(document):
    operation = document["paths"]["/classify"]["post"]
    assert set(operation["responses"]) == {"200", "400", "403", "413", "415", "429", "502", "503", "504"}
    for status, response in operation["responses"].items():
        expected = "ClassifyResponse" if status == "200" else "Error"
        assert response["content"]["application/json"]["schema"]["$ref"] == f"#/components/schemas/{expected}"
    assert operation["security"] == [{"sigv4": []}, {"apiKey": []}]
    schemes = document["components"]["securitySchemes"]
    assert schemes["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert (schemes["apiKey"]["in"], schemes["apiKey"]["name"]) == ("header", "x-api-key")


@pytest.mark.parametrize(
    "code", ["invalid_request", "missing_authentication", "request_too_large", "unsupported_media_type",
             "model_error", "timeout", "service_unavailable", "client_error"]
)  # fmt: skip
def test_the_front_doors_error_codes_fit_the_error_schema(document, code):
    validator = jsonschema.Draft4Validator(document["components"]["schemas"]["Error"])
    assert validator.is_valid({"error": code, "message": "what is wrong"})
    assert not validator.is_valid({"message": "Forbidden"})


def test_converter_moves_definitions_to_components_and_maps_nullable():
    definitions = {}
    converted = to_openapi_schema(
        {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "definitions": {"Score": {"type": ["number", "null"], "minimum": 0}},
            "type": "object",
            "properties": {"score": {"$ref": "#/definitions/Score"}},
        },
        "schema",
        definitions,
    )
    assert converted == {"type": "object", "properties": {"score": {"$ref": "#/components/schemas/Score"}}}
    assert definitions == {"Score": {"type": "number", "nullable": True, "minimum": 0}}


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (
            {"patternProperties": {"^x": {}}},
            "schema.patternProperties: keyword 'patternProperties' has no OpenAPI 3.0",
        ),
        ({"type": ["string", "number"]}, "schema.type: OpenAPI 3.0 takes one type"),
        ({"$ref": "other.json#/x"}, "schema.$ref: only local #/definitions/ references"),
        ({"items": [{"type": "string"}]}, "schema.items: a schema must be an object"),
    ],
)
def test_converter_refuses_what_openapi_3_0_cannot_say(schema, problem):
    with pytest.raises(UnsupportedSchema) as caught:
        to_openapi_schema(schema, "schema", {})
    assert problem in str(caught.value)


def test_committed_document_matches_a_fresh_generation():
    assert OUTPUT.read_text(encoding="utf-8") == render(), "docs/openapi.json is stale: run `make openapi`"
