"""Local front door: a localhost stand-in for the API Gateway stage in front of the model server.

It answers like the deployed stage: POST /classify only (anything else: 403 Missing Authentication Token, as
API Gateway answers unknown routes), 415 unless the body is application/json, 413 above API Gateway's 10 MB,
400 with {"error","message"} when the body breaks inference/request_schema.json (the schema the gateway's
request validator uses), then forwards the unchanged body to the model server's /invocations. The container's
4xx come back as 400 with its body; its 5xx and connection failures as 502/503/504 with a generic body, so no
internals leak. Error codes and fixed messages are the stage's (stacks/api.py; a test keeps them equal). No
authorizer: local mode has no AWS identity.

    python -m local.front_door --backend http://127.0.0.1:8081 --port 8080
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import requests

REQUEST_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "inference" / "request_schema.json"
ROUTE = ("POST", "/classify")
#: API Gateway's payload limit for REST APIs.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: API Gateway's default (and maximum) integration timeout.
INTEGRATION_TIMEOUT_SECONDS = 29.0
#: Validation messages may quote the offending value: keep them short.
MAX_MESSAGE_CHARS = 300

#: Error codes (and fixed messages) of the deployed stage's gateway and integration responses.
INVALID_REQUEST = "invalid_request"  # BAD_REQUEST_BODY; a container 4xx whose body is not JSON
MISSING_AUTHENTICATION = "missing_authentication"  # MISSING_AUTHENTICATION_TOKEN, also for unknown routes
REQUEST_TOO_LARGE = "request_too_large"
CLIENT_ERROR = "client_error"  # DEFAULT_4XX
UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", "Send the request body as application/json.")
TIMEOUT = ("timeout", "The classifier did not answer in time. Try again with fewer texts.")
MODEL_ERROR = ("model_error", "The model could not process the request.")  # container 5xx
UNAVAILABLE = ("service_unavailable", "The classifier is not available right now. Try again later.")


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    @classmethod
    def error(cls, status: int, error: str, message: str) -> Answer:
        return cls(status, json.dumps({"error": error, "message": message}).encode())


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _json_path(path) -> str:
    """['inputs', 3] -> 'inputs[3]'; the root is 'body'."""
    rendered = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return rendered.lstrip(".") or "body"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class RequestChecker:
    """The gateway's checks on a request, before anything reaches the model (pure: no I/O)."""

    def __init__(self, schema: dict) -> None:
        jsonschema.Draft4Validator.check_schema(schema)
        self.validator = jsonschema.Draft4Validator(schema)

    def check(self, method: str, path: str, content_type: str | None, body: bytes) -> Answer | None:
        """The error answer for a request the gateway would refuse, else None."""
        route_path = path.split("?", 1)[0]
        if (method, route_path) != ROUTE:
            return Answer.error(
                403,
                MISSING_AUTHENTICATION,
                f"Missing Authentication Token (no route {method} {route_path}: the API has POST /classify only)",
            )
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            return Answer.error(415, *UNSUPPORTED_MEDIA_TYPE)
        try:
            document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            return Answer.error(400, INVALID_REQUEST, _shorten(f"body is not valid UTF-8 JSON: {exc}"))
        error = jsonschema.exceptions.best_match(self.validator.iter_errors(document))
        if error is not None:
            return Answer.error(
                400, INVALID_REQUEST, _shorten(f"{_json_path(error.absolute_path)}: {error.message}")
            )
        return None


def container_error_answer(status: int, body: bytes) -> Answer:
    """The stage's answer to a container error: a 4xx is a 400 with the container's JSON body (a body that is not
    JSON gets wrapped), a 5xx a generic 502 (no internals)."""
    if status >= 500:
        return Answer.error(502, *MODEL_ERROR)
    text = body.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        return Answer(400, text.encode())
    return Answer.error(400, INVALID_REQUEST, _shorten(text or "rejected by the model"))


class ModelServerBackend:
    """Forwards bodies to a model server's /invocations (one keep-alive session per thread)."""

    def __init__(self, url: str, timeout: float = INTEGRATION_TIMEOUT_SECONDS) -> None:
        self.invocations_url = url.rstrip("/") + "/invocations"
        self.timeout = timeout
        self._local = threading.local()

    def invoke(self, body: bytes) -> Answer:
        session = getattr(self._local, "session", None) or requests.Session()
        self._local.session = session
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        try:
            response = session.post(self.invocations_url, data=body, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            return Answer.error(504, *TIMEOUT)
        except requests.ConnectionError:
            return Answer.error(503, *UNAVAILABLE)
        if response.status_code == 200:
            return Answer(200, response.content)
        return container_error_answer(response.status_code, response.content)


class FrontDoor:
    """`with FrontDoor(backend_url) as door:` serves door.url in a background thread."""

    def __init__(
        self,
        backend_url: str,
        host: str = "127.0.0.1",
        port: int = 0,
        schema_path: Path = REQUEST_SCHEMA_PATH,
        timeout: float = INTEGRATION_TIMEOUT_SECONDS,
    ):
        checker = RequestChecker(json.loads(Path(schema_path).read_text(encoding="utf-8")))
        backend = ModelServerBackend(backend_url, timeout)
        self._server = _Server((host, port), _handler_class(checker, backend))
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FrontDoor:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="front-door", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up before its answer (a load generator stopping) is no server error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_class(checker: RequestChecker, backend: ModelServerBackend) -> type[BaseHTTPRequestHandler]:
    class FrontDoorHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the gateway offers
        server_version = "local-front-door"

        def _read_body(self) -> bytes | Answer:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.close_connection = True
                return Answer.error(411, CLIENT_ERROR, "send the body with a Content-Length header")
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.close_connection = True
                return Answer.error(400, CLIENT_ERROR, "Content-Length is not a number")
            if length > MAX_BODY_BYTES:
                # The body stays unread, so this connection cannot carry another request.
                self.close_connection = True
                return Answer.error(
                    413, REQUEST_TOO_LARGE, f"body is {length} bytes; the limit is {MAX_BODY_BYTES}"
                )
            return self.rfile.read(max(length, 0))

        def _handle(self) -> None:
            body = self._read_body()
            if isinstance(body, bytes):
                answer = checker.check(self.command, self.path, self.headers.get("Content-Type"), body)
                answer = answer or backend.invoke(body)
            else:
                answer = body
            self._send(answer)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """Requests http.server refuses before routing (bad request line, unknown method): JSON too."""
            self.close_connection = True
            self._send(Answer.error(code, CLIENT_ERROR, message or HTTPStatus(code).phrase))

        def _send(self, answer: Answer) -> None:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        def log_message(self, format: str, *args) -> None:
            pass

    return FrontDoorHandler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--backend", required=True, help="model server URL (its /invocations gets the requests)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    with FrontDoor(args.backend, args.host, args.port) as door, contextlib.suppress(KeyboardInterrupt):
        print(f"front door on {door.url}/classify -> {args.backend}/invocations (Ctrl-C stops)", flush=True)
        signal.pause()


if __name__ == "__main__":
    main()
