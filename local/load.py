"""`make load`: load-test the local stack with wrk and derive the endpoint's autoscaling target (not in CI).

N concurrent connections send the same classify request for a fixed time (localhost only), first to the model
server directly (what one endpoint instance sustains) and then through the front door (the API path). wrk
reports requests/s, the latency distribution and the errors.

SageMakerVariantInvocationsPerInstance counts invocations per instance per MINUTE, so the target-tracking
value is  requests/s one instance sustains  x  safety factor (headroom while new instances start)  x  60.

    python -m local.load --connections 8 --duration 60
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests

from local.demo import DemoOptions, build_model, model_server, serving_stack

WRK_INSTALL_HINT = "sudo apt-get install -y wrk"
DEFAULT_TEXT = "You are a complete idiot and everyone here knows it."
#: Share of the measured capacity the autoscaling policy aims for.
DEFAULT_SAFETY_FACTOR = 0.5
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class LoadResult:
    target: str
    requests: int
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def wrk_lua(body: str) -> str:
    """wrk script: POST `body` as JSON on every request."""
    return f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\nwrk.headers["Content-Type"] = "application/json"\n'


def _milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * _UNITS_MS[unit]


def parse_wrk(target: str, output: str) -> LoadResult:
    """Read wrk's report (run with --latency)."""

    def percentile(name: str) -> float:
        return _milliseconds(re.search(rf"^\s+{name}%\s+(\S+)", output, re.M).group(1))

    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return LoadResult(
        target=target,
        requests=int(re.search(r"(\d+) requests in", output).group(1)),
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=percentile("50"),
        p90_ms=percentile("90"),
        p99_ms=percentile("99"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(map(int, socket.groups())) if socket else 0,
    )


def autoscaling_target(requests_per_second: float, safety_factor: float) -> int:
    """SageMakerVariantInvocationsPerInstance target value (per minute)."""
    return max(1, round(requests_per_second * safety_factor * 60))


def run_wrk(target: str, url: str, body: str, connections: int, duration: int, threads: int) -> LoadResult:
    response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
    response.raise_for_status()  # warm-up, and a clear error before a minute of failures
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(wrk_lua(body))
        script.flush()
        command = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration}s", "--latency"]
        command += ["--timeout", "30s", "-s", script.name, url]
        print(f"\n$ {' '.join(command)}", flush=True)
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    print(output, flush=True)
    return parse_wrk(target, output)


def markdown(results: list[LoadResult], connections: int, duration: int, texts: int, safety: float) -> str:
    lines = [
        f"{connections} connections, {duration} s, {texts} text(s) per request:",
        "",
        "| target | requests | requests/s | p50 ms | p90 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.target} | {r.requests} | {r.requests_per_second:.1f} | {r.p50_ms:.1f} | {r.p90_ms:.1f} "
            f"| {r.p99_ms:.1f} | {r.errors} |"
        )
    capacity = results[0].requests_per_second
    lines += [
        "",
        f"Autoscaling target (SageMakerVariantInvocationsPerInstance, per minute): {capacity:.1f} requests/s "
        f"x {safety} safety x 60 = {autoscaling_target(capacity, safety)}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--duration", type=int, default=60, help="seconds per target (default 60)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--texts", type=int, default=1, help="texts per request (default 1)")
    parser.add_argument("--safety-factor", type=float, default=DEFAULT_SAFETY_FACTOR)
    parser.add_argument("--work-dir", type=Path, default=DemoOptions.work_dir, help="the demo's work dir")
    parser.add_argument("--no-java", action="store_true", help="serve the handler in-process")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print(f"error: wrk is not installed. Install it with:\n    {WRK_INSTALL_HINT}", file=sys.stderr)
        return 1
    options = DemoOptions(work_dir=args.work_dir, use_java=not args.no_java, port=0)
    layout = build_model(options)
    body = json.dumps({"inputs": [DEFAULT_TEXT] * args.texts})
    load = (args.connections, args.duration, args.threads)
    with model_server(layout.endpoint_model_dir, options.use_java) as backend_url:
        direct = run_wrk("model server /invocations", backend_url + "/invocations", body, *load)
    with serving_stack(layout.endpoint_model_dir, options.use_java, 0) as url:
        through_door = run_wrk("front door /classify", url + "/classify", body, *load)
    print(markdown([direct, through_door], args.connections, args.duration, args.texts, args.safety_factor))
    return 0


if __name__ == "__main__":
    sys.exit(main())
