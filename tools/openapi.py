"""Generate docs/openapi.json, the OpenAPI 3.0 contract of the REST API, from the schemas the code uses.

The bodies come verbatim from inference/request_schema.json, response_schema.json and error_schema.json (the
handler validates against the first, and the API Gateway model is built from it), so the published document
cannot say something the service does not do. A test compares the
committed file with a fresh generation.

    python -m tools.openapi --output docs/openapi.json     (make openapi)
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUEST_SCHEMA = REPO_ROOT / "inference" / "request_schema.json"
RESPONSE_SCHEMA = REPO_ROOT / "inference" / "response_schema.json"
ERROR_SCHEMA = REPO_ROOT / "inference" / "error_schema.json"
OUTPUT = REPO_ROOT / "docs" / "openapi.json"

#: JSON Schema draft-04 keywords that mean the same in an OpenAPI 3.0 Schema Object.
SHARED_KEYWORDS = {
    "title", "description", "default", "format", "enum", "type", "properties", "required",
    "additionalProperties", "items", "allOf", "oneOf", "anyOf", "not", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern",
    "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties", "$ref",
}  # fmt: skip
#: Keywords whose values are schemas (or lists or maps of schemas).
SCHEMA_VALUED = {"items", "not", "additionalProperties"}
SCHEMA_LISTS = {"allOf", "oneOf", "anyOf"}

#: Error status -> when the API answers it (the body is always an Error).
ERROR_RESPONSES = {
    "400": "The body is not JSON or breaks the request schema (invalid_request; the message names the field), "
    "or the model refused it with its own code (e.g. unknown_label, too_many_inputs).",
    "403": "Missing or wrong credentials, or not allowed (missing_authentication, invalid_signature, "
    "expired_token, invalid_api_key, access_denied); API Gateway also answers missing_authentication for any "
    "route other than POST /classify.",
    "413": "The body is over API Gateway's 10 MB (request_too_large); the model endpoint takes at most 6 MB.",
    "415": "Content-Type is not application/json (unsupported_media_type).",
    "429": "Throttled by the stage or the API key's usage plan (throttled, quota_exceeded): retry with backoff.",
    "502": "The model failed on this request (model_error); no internals are returned.",
    "503": "The model endpoint is not available right now (service_unavailable): retry with backoff.",
    "504": "The model did not answer within API Gateway's 29 s (timeout): retry with fewer texts.",
}
RETRYABLE = {"429", "503"}


class UnsupportedSchema(ValueError):
    """The schema uses JSON Schema that OpenAPI 3.0 cannot express: change the schema or this converter."""


def to_openapi_schema(schema: Any, where: str, definitions: dict[str, Any]) -> Any:
    """Draft-04 JSON Schema -> OpenAPI 3.0 Schema Object; `definitions` collects what moves to components."""
    if not isinstance(schema, dict):
        if isinstance(schema, bool) and where.endswith("additionalProperties"):
            return schema
        raise UnsupportedSchema(f"{where}: a schema must be an object, got {schema!r}")
    converted: dict[str, Any] = {}
    for keyword, value in schema.items():
        path = f"{where}.{keyword}"
        if keyword in ("$schema", "id"):
            continue
        if keyword == "definitions":
            for name, definition in value.items():
                definitions[name] = to_openapi_schema(definition, f"{path}.{name}", definitions)
        elif keyword == "$ref":
            if not value.startswith("#/definitions/"):
                raise UnsupportedSchema(
                    f"{path}: only local #/definitions/ references are supported, got {value}"
                )
            converted[keyword] = "#/components/schemas/" + value.removeprefix("#/definitions/")
        elif keyword == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) != 1:
                raise UnsupportedSchema(f"{path}: OpenAPI 3.0 takes one type (plus null), got {value}")
            converted["type"], converted["nullable"] = types[0], "null" in value
        elif keyword == "properties":
            converted[keyword] = {
                name: to_openapi_schema(sub, f"{path}.{name}", definitions) for name, sub in value.items()
            }
        elif keyword in SCHEMA_LISTS:
            converted[keyword] = [
                to_openapi_schema(sub, f"{path}[{i}]", definitions) for i, sub in enumerate(value)
            ]
        elif keyword in SCHEMA_VALUED:
            converted[keyword] = to_openapi_schema(value, path, definitions)
        elif keyword in SHARED_KEYWORDS:
            converted[keyword] = copy.deepcopy(value)
        else:
            raise UnsupportedSchema(f"{path}: keyword {keyword!r} has no OpenAPI 3.0 equivalent")
    return converted


def _json_content(reference: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{reference}"}}}


def build_openapi(
    request_schema: dict, response_schema: dict, error_schema: dict, version: str
) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the stage: POST /classify, its bodies, errors and security schemes."""
    definitions: dict[str, Any] = {}
    schemas = {
        "ClassifyRequest": to_openapi_schema(request_schema, "request_schema", definitions),
        "ClassifyResponse": to_openapi_schema(response_schema, "response_schema", definitions),
        "Error": to_openapi_schema(error_schema, "error_schema", definitions),
    }
    clashes = set(definitions) & set(schemas)
    if clashes:
        raise UnsupportedSchema(f"definitions named like the top-level schemas: {sorted(clashes)}")
    request_id = {"x-amzn-RequestId": {"$ref": "#/components/headers/RequestId"}}
    responses: dict[str, Any] = {
        "200": {
            "description": "One prediction per input text, in input order, and the thresholds applied.",
            "headers": request_id,
            "content": _json_content("ClassifyResponse"),
        }
    }
    for status, description in ERROR_RESPONSES.items():
        headers = dict(request_id)
        if status in RETRYABLE:
            headers["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
        responses[status] = {
            "description": description,
            "headers": headers,
            "content": _json_content("Error"),
        }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Multi-label text classification API",
            "version": version,
            "description": "Scores every label of a text with a sigmoid and returns the labels at or above "
            "their thresholds (tuned per label at training time, overridable per request). Every error has "
            'the body {"error": code, "message": text}; the codes are listed per status. Generated by '
            "`make openapi` from inference/request_schema.json, response_schema.json and error_schema.json.",
        },
        "servers": [
            {
                "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}",
                "description": "The deployed API Gateway stage (see the stack outputs).",
                "variables": {
                    "restApiId": {"default": "abc123defg"},
                    "region": {"default": "us-east-1"},
                    "stage": {"default": "v1"},
                },
            },
            {"url": "http://127.0.0.1:8080", "description": "The local front door (make serve)."},
        ],
        "paths": {
            "/classify": {
                "post": {
                    "operationId": "classify",
                    "summary": "Classify one text or a batch of texts",
                    "description": "Send up to 6 MB (the model endpoint's limit) per request; the Python "
                    "client (classifier_client) splits longer lists and retries 429/5xx with backoff.",
                    "security": [{"sigv4": []}, {"apiKey": []}],
                    "requestBody": {"required": True, "content": _json_content("ClassifyRequest")},
                    "responses": responses,
                }
            }
        },
        "components": {
            "schemas": {**schemas, **definitions},
            "headers": {
                "RequestId": {
                    "description": "Request id to quote when reporting a problem.",
                    "schema": {"type": "string"},
                },
                "RetryAfter": {
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "integer"},
                },
            },
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "IAM: AWS Signature Version 4 for service execute-api (the client signs with "
                    "botocore). The caller needs execute-api:Invoke on this method.",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                },
                "apiKey": {
                    "type": "apiKey",
                    "name": "x-api-key",
                    "in": "header",
                    "description": "An API key of the stage's usage plan (quota and throttling per key).",
                },
            },
        },
    }


def project_version() -> str:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def render() -> str:
    """The document as committed: indented JSON with a final newline."""
    schemas = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in (REQUEST_SCHEMA, RESPONSE_SCHEMA, ERROR_SCHEMA)
    ]
    document = build_openapi(*schemas, project_version())
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)
    text = render()
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
