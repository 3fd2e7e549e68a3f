"""Exceptions raised by the client: each carries what the server said ({"error", "message"}) or why no request was sent."""

from __future__ import annotations

import json
from dataclasses import dataclass


class ClassifierError(Exception):
    """Base class of every error this package raises."""


class RequestTooLargeError(ClassifierError, ValueError):
    """One text alone is over the request size limit, so no split can send it."""


class ConnectionFailedError(ClassifierError):
    """The API could not be reached (after retries)."""


class ProtocolError(ClassifierError):
    """The server answered 2xx with a body that does not follow the response contract."""


@dataclass
class ApiError(ClassifierError):
    """The API answered with an error status; `error` and `message` come from its {"error","message"} body."""

    status: int
    error: str
    message: str
    request_id: str | None = None

    def __str__(self) -> str:
        request = f" (request id {self.request_id})" if self.request_id else ""
        return f"HTTP {self.status} {self.error}: {self.message}{request}"


class InvalidRequestError(ApiError):
    """4xx for the request itself (400 body rejected, 413 too large, 415 wrong content type, 404/405)."""


class AuthenticationError(ApiError):
    """401/403: missing or wrong credentials or API key, or no permission (API Gateway says 403 for unknown routes too)."""


class ThrottlingError(ApiError):
    """429 after every retry: the API's throttling or quota limit."""


class ServiceError(ApiError):
    """5xx after every retry: the model server or the gateway failed."""


def api_error_from_response(status: int, body: bytes, request_id: str | None = None) -> ApiError:
    """Build the matching ApiError from an error response (tolerates bodies that are not the contract's shape)."""
    error, message = f"http_{status}", body.decode("utf-8", errors="replace").strip() or "(empty body)"
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        error = str(parsed.get("error") or error)
        # API Gateway's own default responses carry only {"message": ...}.
        message = str(parsed.get("message") or parsed.get("Message") or message)
    if status in (401, 403):
        kind = AuthenticationError
    elif status == 429:
        kind = ThrottlingError
    elif status >= 500:
        kind = ServiceError
    else:
        kind = InvalidRequestError
    return kind(status=status, error=error, message=message, request_id=request_id)
