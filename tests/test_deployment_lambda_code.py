"""Each MLOps Lambda is packaged from its own directory (plus the mlops_common layer and the Powertools layer):
its code may import only the standard library, boto3/botocore, Powertools, the layer and its own modules.

Checked twice: statically (every import statement of every file) and by importing each handler in a fresh
interpreter that sees only the Lambda's directory and the layer, as Lambda's /var/task and /opt/python.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.lambdas import LAMBDA_DIRS, LAYER_DIR

#: What the Lambda runtime provides besides the standard library (boto3 in the runtime, Powertools as a layer).
RUNTIME_PACKAGES = {"boto3", "botocore", "aws_lambda_powertools"}
LAYER_PACKAGE = "mlops_common"


def imported_modules(path: Path) -> set[str]:
    """Top-level names of everything `path` imports; relative imports are reported as '.'."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add("." if node.level else node.module.split(".")[0])
    return modules


def own_modules(directory: Path) -> set[str]:
    return {path.stem for path in directory.glob("*.py")}


@pytest.mark.parametrize("function", sorted(LAMBDA_DIRS))
def test_lambda_code_imports_only_what_its_package_contains(function):
    directory = LAMBDA_DIRS[function]
    allowed = set(sys.stdlib_module_names) | RUNTIME_PACKAGES | {LAYER_PACKAGE} | own_modules(directory)
    for path in sorted(directory.glob("*.py")):
        foreign = imported_modules(path) - allowed
        assert not foreign, f"{path.relative_to(directory.parent)} imports {sorted(foreign)}"
    assert not list(directory.glob("*/*.py")), (
        "a Lambda directory is flat: its modules import each other by name"
    )


def test_layer_imports_only_the_standard_library_and_boto3():
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore", LAYER_PACKAGE}
    for path in sorted((LAYER_DIR / LAYER_PACKAGE).glob("*.py")):
        foreign = imported_modules(path) - allowed
        assert not foreign, f"{path.name} imports {sorted(foreign)}"


def test_module_names_do_not_collide_across_lambdas():
    """Besides handler.py, each Lambda's module names are unique (and none shadows the layer or a library)."""
    seen: dict[str, str] = {}
    for function, directory in LAMBDA_DIRS.items():
        for name in own_modules(directory) - {"handler"}:
            assert name not in seen, f"{name}.py exists in both {seen[name]} and {function}"
            assert name not in set(sys.stdlib_module_names) | RUNTIME_PACKAGES | {LAYER_PACKAGE}
            seen[name] = function


@pytest.mark.parametrize("function", sorted(LAMBDA_DIRS))
def test_handler_imports_in_a_lambda_like_layout(function, tmp_path):
    task = tmp_path / "var" / "task"
    layer = tmp_path / "opt" / "python"
    shutil.copytree(LAMBDA_DIRS[function], task, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(LAYER_DIR, layer, ignore=shutil.ignore_patterns("__pycache__"))
    script = (
        "import sys\n"
        f"sys.path[:0] = [{str(task)!r}, {str(layer)!r}]\n"
        "import handler\n"
        "assert callable(handler.lambda_handler)\n"
        f"assert handler.__file__.startswith({str(task)!r}), handler.__file__\n"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
