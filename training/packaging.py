"""Build the training source tarball that SageMaker script mode runs.

The SageMaker training toolkit downloads `sagemaker_submit_directory` and untars it into /opt/ml/code, so it
must be a `.tar.gz` (a CDK directory asset would be a zip). The archive is byte-for-byte reproducible (sorted
entries, fixed mtimes and owners), so its CDK asset hash only changes when the code does.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Packages shipped to the training job: the entry point and the inference handler it copies into code/.
SOURCE_PACKAGES = ("training", "inference")
#: Sub-packages that are not part of the job (they are Lambda code with their own assets).
EXCLUDED_DIRS = {"launcher", "__pycache__"}

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
            if path.is_file() and not EXCLUDED_DIRS.intersection(relative.parts) and path.suffix != ".pyc":
                files.append((relative.as_posix(), path))
    return files


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    archive.addfile(info, io.BytesIO(data))


def build_source_tarball(destination: Path, root: Path = REPO_ROOT) -> Path:
    """Write sourcedir.tar.gz (train.py + the training and inference packages) to `destination`."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        _add_bytes(archive, ENTRY_SCRIPT, ENTRY_SCRIPT_SOURCE)
        for name, path in _source_files(root):
            _add_bytes(archive, name, path.read_bytes())
    compressed = gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0)
    if not destination.exists() or destination.read_bytes() != compressed:
        destination.write_bytes(compressed)
    return destination
