"""`python -m classifier_client classify`: texts from arguments, a file or stdin; table and JSON output."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from classifier_client.cli import main
from tests.support.fake_http import FakeHttpServer


def toxic_model(request):
    """Labels a text toxic when it says 'idiot' (a fake that follows the container contract)."""
    predictions = []
    for text in request.json()["inputs"]:
        toxic = 0.93 if "idiot" in text else 0.02
        predictions.append(
            {"labels": ["toxic"] if toxic > 0.5 else [], "scores": {"toxic": toxic, "threat": 0.01}}
        )
    return 200, {}, {"predictions": predictions, "thresholds": {"toxic": 0.5, "threat": 0.5}}


class FakeStdin(io.StringIO):
    def __init__(self, text: str, tty: bool = False) -> None:
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def run_cli(argv, stdin_text="", tty=True):
    out = io.StringIO()
    code = main(argv, stdin=FakeStdin(stdin_text, tty), stdout=out)
    return code, out.getvalue()


def test_classify_arguments_as_a_table():
    with FakeHttpServer(toxic_model) as server:
        code, out = run_cli(["classify", "you idiot", "nice article", "--url", server.url, "--auth", "none"])
    assert code == 0
    header, rule, first, second, thresholds = out.splitlines()
    assert header.split() == ["#", "text", "labels", "scores"]
    assert set(rule) == {"-"}
    assert first.split() == ["1", "you", "idiot", "toxic", "toxic=0.93", "threat=0.01"]
    assert second.split() == ["2", "nice", "article", "-", "toxic=0.02", "threat=0.01"]
    assert thresholds == "thresholds: toxic=0.50 threat=0.50"


def test_classify_a_file_and_stdin_as_json(tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("first idiot\n\n   \nsecond\n", encoding="utf-8")
    with FakeHttpServer(toxic_model) as server:
        code, out = run_cli(
            [
                "classify",
                "--file",
                str(texts),
                "-",
                "--url",
                server.url,
                "--auth",
                "none",
                "--output",
                "json",
            ],
            stdin_text="from stdin\n",
        )
        assert server.requests[0].json() == {"inputs": ["from stdin", "first idiot", "second"]}
    assert code == 0
    result = json.loads(out)
    assert [p["text"] for p in result["predictions"]] == ["from stdin", "first idiot", "second"]
    assert result["predictions"][1]["labels"] == ["toxic"]


def test_piped_stdin_is_read_without_arguments():
    with FakeHttpServer(toxic_model) as server:
        code, out = run_cli(
            ["classify", "--url", server.url, "--auth", "none"], stdin_text="a\nb\n", tty=False
        )
    assert code == 0
    assert server.requests[0].json()["inputs"] == ["a", "b"]
    assert len(out.splitlines()) == 5  # header, rule, two rows, thresholds


def test_parameters_and_api_key_reach_the_request():
    with FakeHttpServer(toxic_model) as server:
        argv = ["classify", "x", "--url", server.url, "--auth", "api-key", "--api-key", "k"]
        argv += ["--threshold", "0.4", "--label-threshold", "toxic=0.2", "--top-k", "2", "--all-scores"]
        assert run_cli(argv)[0] == 0
    request = server.requests[0]
    assert request.headers["x-api-key"] == "k"
    assert request.json()["parameters"] == {
        "threshold": 0.4,
        "thresholds": {"toxic": 0.2},
        "top_k": 2,
        "return_all_scores": True,
    }


def test_server_error_body_is_printed_and_exit_code_is_1(capsys):
    def rejecting(request):
        return (
            400,
            {},
            {"error": "invalid_request", "message": "parameters.top_k: 0 is less than the minimum of 1"},
        )

    with FakeHttpServer(rejecting) as server:
        code, _ = run_cli(["classify", "x", "--url", server.url, "--auth", "none", "--top-k", "0"])
    assert code == 1
    assert (
        "HTTP 400 invalid_request: parameters.top_k: 0 is less than the minimum of 1"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["classify", "x", "--auth", "none"], "no API URL"),
        (["classify", "--url", "http://127.0.0.1:9", "--auth", "none"], "no texts"),
        (["classify", "x", "--url", "http://h", "--label-threshold", "toxic"], "LABEL=NUMBER"),
    ],
)
def test_usage_errors_name_the_problem(argv, problem, capsys, monkeypatch):
    monkeypatch.delenv("CLASSIFIER_API_URL", raising=False)
    with pytest.raises(SystemExit) as caught:
        run_cli(argv)
    assert caught.value.code == 2
    assert problem in capsys.readouterr().err


def test_module_entry_point_runs():
    completed = subprocess.run(
        [sys.executable, "-m", "classifier_client", "classify", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--auth {iam,api-key,none}" in completed.stdout
