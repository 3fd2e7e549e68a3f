"""The training source tarball (what SageMaker script mode untars into /opt/ml/code) and model.tar.gz packing."""

from __future__ import annotations

import subprocess
import sys
import tarfile

import pytest

from tests.support.training import REPO_ROOT, unpack_source_tarball
from training.packaging import build_source_tarball, pack_model_dir


def test_source_tarball_is_reproducible_and_holds_only_the_job_code(tmp_path):
    first = build_source_tarball(tmp_path / "a" / "sourcedir.tar.gz")
    second = build_source_tarball(tmp_path / "b" / "sourcedir.tar.gz")
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as archive:
        members = archive.getmembers()
    names = [member.name for member in members]
    assert names[0] == "train.py"
    assert {
        "training/train.py",
        "training/data.py",
        "inference/inference.py",
        "inference/request_schema.json",
    } <= set(names)
    assert not [
        name for name in names if "launcher" in name or "__pycache__" in name or name.endswith(".pyc")
    ]
    assert {(member.mtime, member.uid, member.mode) for member in members} == {(0, 0, 0o644)}
    for name in names[1:]:
        assert (REPO_ROOT / name).is_file(), name


def test_the_untarred_entry_point_imports_from_itself(tmp_path):
    """`python train.py` in the untarred directory (as in /opt/ml/code) finds `training` and `inference` there."""
    code = unpack_source_tarball(tmp_path / "code")
    program = "import train, training.train, inference; print(training.train.__file__, inference.__file__); train.main(['--help'])"
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=code,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    first_line = result.stdout.splitlines()[0]
    assert first_line == f"{code}/training/train.py {code}/inference/__init__.py"
    assert "--label_names_file" in result.stdout and "--multi_hot_label_columns" in result.stdout


def test_model_tar_gz_has_the_files_at_its_root(tmp_path):
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (model_dir / "config.json").write_text("{}", encoding="utf-8")
    (model_dir / "model.safetensors").write_bytes(b"\0" * 1000)
    (model_dir / "code" / "inference.py").write_text("# handler\n", encoding="utf-8")
    archive_path = pack_model_dir(model_dir, tmp_path / "out" / "model.tar.gz")
    assert archive_path.read_bytes() == pack_model_dir(model_dir, tmp_path / "again.tar.gz").read_bytes()
    assert not (tmp_path / "out" / "model.tar.gz.partial").exists()
    with tarfile.open(archive_path, "r:gz") as archive:
        assert archive.getnames() == ["code/inference.py", "config.json", "model.safetensors"]
        archive.extractall(tmp_path / "extracted", filter="data")
    for name in ("config.json", "model.safetensors", "code/inference.py"):
        assert (tmp_path / "extracted" / name).read_bytes() == (model_dir / name).read_bytes()


def test_packing_refuses_an_empty_model_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a model directory"):
        pack_model_dir(tmp_path, tmp_path / "model.tar.gz")
