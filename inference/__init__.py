"""The inference handler that the SageMaker Hugging Face inference toolkit runs from `code/` of model.tar.gz."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: The files of `code/` in a model artifact: the handler and the request contract it validates against.
CODE_FILES = ("inference.py", "request_schema.json")


def install_inference_code(model_dir: os.PathLike | str) -> Path:
    """Copy the handler into `<model_dir>/code/` (what the toolkit loads); returns that directory."""
    code_dir = Path(model_dir) / "code"
    code_dir.mkdir(parents=True, exist_ok=True)
    for name in CODE_FILES:
        shutil.copyfile(Path(__file__).with_name(name), code_dir / name)
    return code_dir
