"""Split a long list of texts into request bodies the API accepts, keeping input order.

Two limits apply to every body: the handler's batch cap (maxItems of inputs in the request schema) and the
payload size. API Gateway takes up to 10 MB, but it hands the body to SageMaker InvokeEndpoint, which takes
6 MB, so the stricter 6 MB binds through the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from classifier_client.errors import RequestTooLargeError

#: maxItems of `inputs` in inference/request_schema.json (a test keeps the two equal).
MAX_BATCH_ITEMS = 256
API_GATEWAY_MAX_BYTES = 10 * 1024 * 1024
INVOKE_ENDPOINT_MAX_BYTES = 6 * 1024 * 1024
MAX_BODY_BYTES = min(API_GATEWAY_MAX_BYTES, INVOKE_ENDPOINT_MAX_BYTES)


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON: the exact bytes sent, so sizes computed here are the sizes on the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def request_body(texts: Sequence[str], parameters: dict[str, Any]) -> bytes:
    body: dict[str, Any] = {"inputs": list(texts)}
    if parameters:
        body["parameters"] = parameters
    return encode_json(body)


def split_requests(
    texts: Sequence[str],
    parameters: dict[str, Any],
    max_items: int = MAX_BATCH_ITEMS,
    max_bytes: int = MAX_BODY_BYTES,
) -> Iterator[tuple[int, int, bytes]]:
    """Yield (start, end, body) for consecutive slices texts[start:end], each body within both limits."""
    if max_items < 1:
        raise ValueError(f"max_items must be at least 1, got {max_items}")
    envelope = len(request_body([], parameters))  # {"inputs":[]...}: every item adds its JSON plus a comma
    start, size = 0, envelope
    for index, text in enumerate(texts):
        item = len(encode_json(text))
        if envelope + item > max_bytes:
            raise RequestTooLargeError(
                f"text #{index} is {item} bytes as JSON; one request may carry at most {max_bytes - envelope} "
                f"bytes of text ({max_bytes} bytes in all): shorten or drop it"
            )
        separator = 1 if index > start else 0
        if index - start == max_items or size + separator + item > max_bytes:
            yield start, index, request_body(texts[start:index], parameters)
            start, size, separator = index, envelope, 0
        size += separator + item
    if start < len(texts):
        yield start, len(texts), request_body(texts[start:], parameters)
