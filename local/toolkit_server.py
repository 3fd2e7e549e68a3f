"""Serve a model directory with the SageMaker Hugging Face toolkit, without Java: the fallback for `make demo`.

Multi Model Server has a Java frontend (HTTP, queues) and a Python worker that loads the toolkit's handler
service. This module keeps the Python half exactly (mms.model_loader.MmsModelLoader loads the handler
service, which imports code/inference.py from the model directory; mms.service.Service runs each request and
encodes the worker's reply) and replaces only the frontend with a small HTTP server that answers as MMS
1.1's does: GET /ping, POST /invocations; a worker error becomes its status code with the frontend's
{"code", "type": "InternalServerException", "message"} body. One request at a time, like one MMS worker.

The handler imports the model's code/inference.py as the module `inference`, so the server runs in a process
of its own, which has not imported the repository's `inference` package:
`python -m local.toolkit_server --model-dir DIR --port 8081`, or `serve_in_subprocess(model_dir)`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

HANDLER_SERVICE = "sagemaker_huggingface_inference_toolkit.handler_service"
PING_BODY = json.dumps({"status": "Healthy"}, indent=2).encode()
NOT_FOUND_BODY = json.dumps(
    {
        "code": 404,
        "type": "ResourceNotFoundException",
        "message": "Requested resource is not found, please refer to API document.",
    }
).encode()


@dataclass
class WorkerReply:
    """One prediction as the MMS worker encodes it (mms.protocol.otf_message_handler.create_predict_response)."""

    code: int
    message: str
    status: int = 200
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def decode_predict_response(data: bytes) -> WorkerReply:
    """Decode the worker's binary reply to a one-request batch."""
    offset = 0

    def read_int() -> int:
        nonlocal offset
        (value,) = struct.unpack_from("!i", data, offset)
        offset += 4
        return value

    def read_bytes() -> bytes:
        nonlocal offset
        length = read_int()
        value = data[offset : offset + length]
        offset += length
        return value

    reply = WorkerReply(code=read_int(), message=read_bytes().decode())
    if read_int() == -1:  # request id length, or the end of an empty list
        return reply
    offset -= 4
    read_bytes()  # request id
    reply.content_type = read_bytes().decode()
    reply.status = read_int()
    read_bytes()  # reason phrase
    for _ in range(read_int()):
        name = read_bytes().decode()
        reply.headers[name] = read_bytes().decode()
    reply.body = read_bytes()
    return reply


class ToolkitWorker:
    """The MMS Python worker's view of one model: load once, then predict one request at a time."""

    def __init__(self, model_dir: Path) -> None:
        from mms.model_loader import MmsModelLoader

        if "inference" in sys.modules:
            raise RuntimeError(
                "module `inference` is already imported, so the model's code/inference.py would not be: "
                "serve from a fresh process (python -m local.toolkit_server)"
            )

        self.service = MmsModelLoader().load("model", str(model_dir), HANDLER_SERVICE, None, 1)
        self._lock = threading.Lock()

    def invoke(self, body: bytes, content_type: str, accept: str) -> WorkerReply:
        request = {
            "requestId": str(uuid.uuid4()).encode(),
            "parameters": [{"name": "body", "contentType": content_type, "value": body}],
            "headers": [
                {"name": b"Content-Type", "value": content_type.encode()},
                {"name": b"Accept", "value": accept.encode()},
            ],
        }
        with self._lock:
            return decode_predict_response(bytes(self.service.predict([request])))


def frontend_answer(reply: WorkerReply) -> tuple[int, str, bytes]:
    """(status, content type, body) as MMS's Java frontend sends them for a worker reply."""
    if reply.code != 200:
        error = {"code": reply.code, "type": "InternalServerException", "message": reply.message}
        return reply.code, "application/json", json.dumps(error, indent=2).encode()
    return reply.status, reply.content_type or "application/json", reply.body


def serve(model_dir: Path, host: str, port: int) -> ThreadingHTTPServer:
    worker = ToolkitWorker(model_dir)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/ping":
                self._send(200, "application/json", PING_BODY)
            else:
                self._send(404, "application/json", NOT_FOUND_BODY)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/invocations":
                self._send(404, "application/json", NOT_FOUND_BODY)
                return
            content_type = self.headers.get("Content-Type") or "application/json"
            accept = self.headers.get("Accept") or "application/json"
            self._send(*frontend_answer(worker.invoke(body, content_type, accept)))

        def log_message(self, format: str, *args) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


@contextlib.contextmanager
def serve_in_subprocess(model_dir: Path, port: int, startup_timeout: float = 180.0) -> Iterator[str]:
    """Run `python -m local.toolkit_server` until the block ends; yields its URL once /ping answers."""
    command = [
        sys.executable,
        "-m",
        "local.toolkit_server",
        "--model-dir",
        str(model_dir),
        "--port",
        str(port),
    ]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: nobody reads it while the server runs
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            _wait_for_ping(url, process, log, startup_timeout)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_for_ping(url: str, process: subprocess.Popen, log, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if requests.get(url + "/ping", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.3)
    log.seek(0)
    state = (
        f"exited with {process.returncode}"
        if process.poll() is not None
        else f"did not answer in {timeout:.0f} s"
    )
    raise RuntimeError(f"the toolkit server {state}:\n{log.read()[-4000:]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, required=True, help="unpacked model.tar.gz (with code/)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    with serve(args.model_dir, args.host, args.port) as server, contextlib.suppress(KeyboardInterrupt):
        print(
            f"toolkit handler serving {args.model_dir} on http://{args.host}:{args.port} (no Java)",
            flush=True,
        )
        server.serve_forever()


if __name__ == "__main__":
    main()
