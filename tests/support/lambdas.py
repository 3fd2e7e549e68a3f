"""Import the MLOps Lambda code the way Lambda does: each directory on its own, plus the shared layer.

In Lambda each function's directory is the import root (`handler.lambda_handler`) and the mlops_common
layer sits in /opt/python. Here every Lambda directory and the layer go on sys.path; the three
`handler.py` files are loaded under distinct module names, the other modules have unique names.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYER_DIR = REPO_ROOT / "lambda_layer" / "python"
LAMBDA_DIRS = {
    "launcher": REPO_ROOT / "training" / "launcher",
    "registrar": REPO_ROOT / "deployment" / "registrar",
    "deployer": REPO_ROOT / "deployment" / "deployer",
}


def _ensure_on_path(directory: Path) -> None:
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))


def lambda_module(function: str, module: str = "handler") -> ModuleType:
    """`lambda_module("launcher", "job_request")`, or the function's handler by default."""
    directory = LAMBDA_DIRS[function]
    _ensure_on_path(LAYER_DIR)
    _ensure_on_path(directory)
    if module != "handler":
        return importlib.import_module(module)
    name = f"{function}_handler"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, directory / "handler.py")
        handler = importlib.util.module_from_spec(spec)
        sys.modules[name] = handler
        spec.loader.exec_module(handler)
    return sys.modules[name]
