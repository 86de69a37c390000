"""DVC versioning, for real (no git): md5 identity, and restore of exact bytes from another workspace."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from airloop.errors import AirloopError
from airloop.store.versioning import DataVersioner, Tracked

pytestmark = pytest.mark.unit

V1 = np.random.default_rng(1).bytes(20_000)
V2 = np.random.default_rng(2).bytes(20_000)


@dataclass
class Versions:
    root: Path
    remote: str
    writer: DataVersioner
    first: Tracked
    second: Tracked


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> Versions:
    """One file versioned twice in a workspace that pushes to a local remote."""
    root = tmp_path_factory.mktemp("dvc")
    remote = str(root / "remote")
    writer = DataVersioner(root / "writer", remote)
    path = writer.path("data/batch.bin")
    path.parent.mkdir(parents=True)
    path.write_bytes(V1)
    first = writer.track("data/batch.bin")
    path.write_bytes(V2)
    second = writer.track("data/batch.bin")
    return Versions(root, remote, writer, first, second)


def test_track_returns_the_md5_of_the_bytes(versions):
    assert versions.first == Tracked("data/batch.bin", hashlib.md5(V1).hexdigest(), len(V1))
    assert versions.second.md5 == hashlib.md5(V2).hexdigest()


def test_workspace_is_a_dvc_project_without_git(versions):
    assert (versions.root / "writer" / ".dvc").is_dir()
    assert not (versions.root / "writer" / ".git").exists()
    assert (versions.root / "writer" / "data" / "batch.bin.dvc").is_file()


def test_push_reaches_the_remote(versions):
    stored = {p.parent.name + p.name for p in Path(versions.remote).rglob("*") if p.is_file()}
    assert {versions.first.md5, versions.second.md5} <= stored


@pytest.mark.parametrize("which", ["first", "second"])
def test_restore_in_another_workspace_gives_identical_bytes(versions, tmp_path, which):
    tracked = getattr(versions, which)
    reader = DataVersioner(tmp_path / "reader", versions.remote)
    out = reader.restore(tracked.md5, tmp_path / "out" / "restored.bin")
    assert out == tmp_path / "out" / "restored.bin"
    assert out.read_bytes() == (V1 if which == "first" else V2)
    assert [p.name for p in out.parent.iterdir()] == ["restored.bin"]  # no temp file left behind


def test_restore_from_the_local_cache(versions, tmp_path):
    out = versions.writer.restore(versions.first.md5, tmp_path / "again.bin")
    assert out.read_bytes() == V1


def test_restore_unknown_md5_raises(versions, tmp_path):
    reader = DataVersioner(tmp_path / "reader", versions.remote)
    unknown = hashlib.md5(b"never versioned").hexdigest()
    with pytest.raises(AirloopError, match=unknown):
        reader.restore(unknown, tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()


def test_a_new_workspace_prints_nothing_on_stdout(tmp_path, capsys):
    # The CLI's stdout is its output (paths, JSON); DVC's init banner must not end up there.
    ws = DataVersioner(tmp_path / "ws", str(tmp_path / "remote"))
    ws.workspace.mkdir()
    ws.path("f.bin").write_bytes(b"x")
    ws.track("f.bin")
    assert capsys.readouterr().out == ""


def test_track_missing_file_raises(versions):
    with pytest.raises(AirloopError, match="could not version data/missing.bin"):
        versions.writer.track("data/missing.bin")
