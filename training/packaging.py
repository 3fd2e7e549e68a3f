"""Build the tarballs SageMaker consumes: the training source tarball and a model's model.tar.gz.

The SageMaker training toolkit downloads `sagemaker_submit_directory` and untars it into /opt/ml/code, so it
must be a `.tar.gz` (a CDK directory asset would be a zip). The archive is byte-for-byte reproducible (sorted
entries, fixed mtimes and owners), so its CDK asset hash only changes when the code does.

`pack_model_dir` packs a model directory the way SageMaker packs /opt/ml/model after training: the files at the
archive root (`config.json`, `code/inference.py`, ...), so that local mode deploys exactly what a job would.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Packages shipped to the training job: the entry point and the inference handler it copies into code/.
SOURCE_PACKAGES = ("training", "inference")
#: Sub-packages that are not part of the job (they are Lambda code with their own assets).
EXCLUDED_DIRS = {"launcher", "__pycache__", "tests"}

#: Script-mode program (`sagemaker_program=train.py`) at the archive root.
ENTRY_SCRIPT = "train.py"
ENTRY_SCRIPT_SOURCE = b'''"""SageMaker script-mode entry point: runs training.train (also under torchrun)."""
from training.train import main

if __name__ == "__main__":
    main()
'''


def _source_files(root: Path) -> list[tuple[str, Path]]:
    files = []
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            relative = path.relative_to(root)
            hidden = any(part.startswith(".") for part in relative.parts)
            if (
                path.is_file()
                and not hidden
                and not EXCLUDED_DIRS.intersection(relative.parts)
                and path.suffix != ".pyc"
            ):
                files.append((relative.as_posix(), path))
    return files


def _write_tar_gz(fileobj: BinaryIO, members: Iterable[tuple[str, BinaryIO, int]]) -> None:
    """A reproducible .tar.gz of (name, content, size) members: no timestamps, owners or gzip file name."""
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=fileobj, compresslevel=9, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name, content, size in members:
            info = tarfile.TarInfo(name)
            info.size = size
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, content)


def _file_members(root: Path, files: list[Path]) -> Iterable[tuple[str, BinaryIO, int]]:
    for path in files:
        with path.open("rb") as content:
            yield path.relative_to(root).as_posix(), content, path.stat().st_size


def build_source_tarball(destination: Path, root: Path = REPO_ROOT) -> Path:
    """Write sourcedir.tar.gz (train.py + the training and inference packages) to `destination`."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    members = [(ENTRY_SCRIPT, io.BytesIO(ENTRY_SCRIPT_SOURCE), len(ENTRY_SCRIPT_SOURCE))]
    members += [
        (name, io.BytesIO(path.read_bytes()), path.stat().st_size) for name, path in _source_files(root)
    ]
    buffer = io.BytesIO()
    _write_tar_gz(buffer, members)
    compressed = buffer.getvalue()
    if not destination.exists() or destination.read_bytes() != compressed:
        destination.write_bytes(compressed)
    return destination


def pack_model_dir(model_dir: Path, destination: Path) -> Path:
    """Write model.tar.gz of `model_dir` with its files at the archive root, as SageMaker does after training."""
    model_dir, destination = Path(model_dir), Path(destination)
    if not model_dir.is_dir() or not any(model_dir.iterdir()):
        raise FileNotFoundError(f"{model_dir} is not a model directory (missing or empty)")
    destination.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(path for path in model_dir.rglob("*") if path.is_file())
    partial = destination.with_name(destination.name + ".partial")
    with partial.open("wb") as output:
        _write_tar_gz(output, _file_members(model_dir, files))
    shutil.move(partial, destination)
    return destination
