"""Serve a model directory on localhost exactly as the endpoint does: the SageMaker Hugging Face inference toolkit's
own serving entry (`sagemaker_huggingface_inference_toolkit.serving`) starts Multi Model Server (Java), whose Python
workers load `code/inference.py` from the model directory.

Used by the serving tests and by local mode (`make demo`). Each server gets its own temporary directory for what
MMS would otherwise share machine-wide (its pid file, its worker sockets `.mms.sock.*`, its logs), so servers can
run side by side and leave nothing behind; stopping ends the whole process group (launcher, Java, workers).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

#: The toolkit writes its model-server configuration here, one file for the machine (root needed).
MMS_CONFIG_FILE = Path("/etc/sagemaker-mms.properties")
#: Held while a server writes MMS_CONFIG_FILE and its Java process reads it.
START_LOCK_FILE = Path(tempfile.gettempdir()) / "sagemaker-mms-start.lock"
#: Ports MMS accepts, below the kernel's ephemeral range (so clients' outgoing ports never take ours).
MMS_PORT_RANGE = (20000, 32767)


@dataclass(frozen=True)
class LocalServer:
    """A running server: where to send requests, and where its combined log is."""

    url: str
    port: int
    log_file: Path

    def log_tail(self, characters: int = 4000) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")[-characters:]


def free_port() -> int:
    """A free TCP port that MMS accepts (it refuses ports from 32767 up, where the kernel's ephemeral ports start)."""
    for candidate in random.sample(range(*MMS_PORT_RANGE), k=200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return candidate
    raise RuntimeError(f"no free port in {MMS_PORT_RANGE}")


def _model_base_dir(model_dir: Path, scratch: Path) -> Path:
    """The toolkit serves `$SAGEMAKER_BASE_DIR/model`: link the model directory there (nothing is copied)."""
    base_dir = scratch / "base"
    base_dir.mkdir()
    (base_dir / "model").symlink_to(model_dir.resolve(), target_is_directory=True)
    return base_dir


def server_environment(
    model_dir: Path, port: int, scratch: Path, extra_env: dict[str, str] | None
) -> dict[str, str]:
    """The container environment of the endpoint, pointed at a private scratch directory."""
    env = {
        **os.environ,
        # The toolkit runs `multi-model-server` from PATH: the one installed next to this Python.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAGEMAKER_BASE_DIR": str(_model_base_dir(model_dir, scratch)),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        # MMS puts its pid file in TMPDIR and its worker sockets in TEMP (java.io.tmpdir): make both private.
        "TMPDIR": str(scratch),
        "TEMP": str(scratch),
        "LOG_LOCATION": str(scratch / "logs"),
        "METRICS_LOCATION": str(scratch / "logs"),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra_env or {})
    return env


def _ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _model_ready(url: str) -> bool:
    """True once a worker has loaded the model (MMS answers /ping before that)."""
    try:
        with urllib.request.urlopen(f"{url}/models/model", timeout=2) as response:
            return b'"status": "READY"' in response.read()
    except (urllib.error.URLError, OSError):
        return False


def _group_members(group_id: int) -> list[psutil.Process]:
    """Live processes of a process group (zombies excluded: they wait for a reaper, not for a signal)."""
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == group_id and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
    return members


def _stop_process_group(process: subprocess.Popen, grace_seconds: float = 10.0) -> None:
    """End the launcher, MMS's Java process and its Python workers (one process group).

    The launcher is killed outright: its SIGTERM handler forwards the signal to whichever MMS Java process it found
    on the machine, possibly another server's. The rest of the group gets SIGTERM (Java stops its workers), then
    SIGKILL for whatever is still alive after the grace period.
    """
    process.kill()
    process.wait()
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        for member in _group_members(process.pid):
            with contextlib.suppress(psutil.Error):
                member.send_signal(signal_number)
        _, alive = psutil.wait_procs(_group_members(process.pid), timeout=grace_seconds)
        if not alive:
            return


@contextlib.contextmanager
def serve_model_dir(
    model_dir: os.PathLike | str,
    port: int | None = None,
    env: dict[str, str] | None = None,
    startup_timeout: float = 180.0,
) -> Iterator[LocalServer]:
    """Serve `model_dir` (a model.tar.gz's contents, with code/inference.py) on http://127.0.0.1:`port` until the
    block ends. `env` adds container environment (e.g. CLASSIFIER_MAX_BATCH_SIZE). Raises RuntimeError with the
    server log when the server does not come up."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a model directory (no config.json)")
    if not os.access(MMS_CONFIG_FILE.parent, os.W_OK):
        raise PermissionError(
            f"the toolkit writes {MMS_CONFIG_FILE}: run as a user who may write to it (root)"
        )
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    scratch = Path(tempfile.mkdtemp(prefix="mms-"))
    server = LocalServer(url, port, scratch / "server.log")
    process = None
    try:
        with server.log_file.open("wb") as log, START_LOCK_FILE.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            process = subprocess.Popen(
                [sys.executable, "-m", "sagemaker_huggingface_inference_toolkit.serving"],
                env=server_environment(model_dir, port, scratch, env),
                cwd=scratch,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            _wait_until_ready(server, process, startup_timeout)
        yield server
    finally:
        if process is not None:
            _stop_process_group(process)
        shutil.rmtree(scratch, ignore_errors=True)


def _wait_until_ready(server: LocalServer, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the model server exited with {process.returncode}:\n{server.log_tail()}")
        if _ping(server.url) and _model_ready(server.url):
            return
        time.sleep(0.5)
    raise RuntimeError(
        f"the model server did not load the model within {timeout:.0f} s:\n{server.log_tail()}"
    )
