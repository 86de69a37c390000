"""Dataset versioning with DVC: every curated batch and every training set is content-addressed (md5).

The DVC project runs without git (`dvc init --no-scm`); the md5 is the version. It is recorded on the model as
lineage, and any workspace with the same remote can restore the exact bytes from it (`restore`) — which is
what lets a training task run on another worker than the feature task, and `airloop data pull` rebuild a
model's training set. DVC refuses concurrent operations in one workspace, so every call here holds a file lock.
"""

from __future__ import annotations

import fcntl
import io
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airloop.errors import AirloopError, ServiceUnavailable

if TYPE_CHECKING:
    from airloop.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tracked:
    path: str  # relative to the workspace
    md5: str
    size: int


class DataVersioner:
    """A DVC workspace bound to one remote.

    Args:
        workspace: local directory of the DVC project (created on first use).
        remote: DVC remote URL (a local directory, or `s3://bucket/prefix`).
        remote_options: extra remote settings, e.g. `{"endpointurl": "http://127.0.0.1:9000"}`.
    """

    def __init__(self, workspace: str | Path, remote: str, remote_options: dict[str, Any] | None = None):
        self.workspace = Path(workspace).resolve()
        self.remote = remote
        self.remote_options = dict(remote_options or {})

    @classmethod
    def from_settings(cls, settings: Settings) -> DataVersioner:
        """The deployment's DVC workspace and remote (an S3 remote reaches the settings' endpoint, if any)."""
        options = {}
        if settings.dvc_remote.startswith("s3://") and settings.s3_endpoint_url:
            options["endpointurl"] = settings.s3_endpoint_url
        return cls(settings.dvc_workspace, settings.dvc_remote, options)

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        from dvc.repo import Repo

        self.workspace.mkdir(parents=True, exist_ok=True)
        with open(self.workspace / ".airloop.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (self.workspace / ".dvc").exists():
                with redirect_stdout(io.StringIO()):  # DVC announces itself on stdout; keep CLI output clean
                    Repo.init(str(self.workspace), no_scm=True)
            repo = Repo(str(self.workspace))
            try:
                self._configure(repo)
                yield repo
            finally:
                repo.close()

    def _configure(self, repo) -> None:
        wanted = {"url": self.remote, **self.remote_options}
        if repo.config["remote"].get("airloop") == wanted and repo.config["core"].get("remote") == "airloop":
            return
        with repo.config.edit() as conf:
            conf["remote"]["airloop"] = wanted
            conf["core"]["remote"] = "airloop"
            conf["core"]["autostage"] = False

    def path(self, relative: str) -> Path:
        return self.workspace / relative

    def track(self, relative: str) -> Tracked:
        """`dvc add` + `dvc push` one file under the workspace; returns its md5."""
        try:
            with self._locked() as repo:
                target = str(self.workspace.resolve() / relative)  # DVC resolves relative paths from the cwd
                stages = repo.add([target])
                out = stages[0].outs[0]
                repo.push(targets=[target])
                return Tracked(relative, out.hash_info.value, int(out.meta.size or 0))
        except AirloopError:
            raise
        except Exception as exc:
            raise AirloopError(f"DVC could not version {relative}: {exc}") from exc

    def _fetch(self, repo, stub: Path) -> None:
        """Fetch a stub's object from the remote. An object the remote lacks is no error here (the caller finds it
        absent: "not there"); a remote that cannot be reached raises `ServiceUnavailable` ("cannot reach")."""
        from dvc.exceptions import DownloadError

        try:
            repo.fetch(targets=[str(stub)])
        except DownloadError as exc:
            where = self.remote_options.get("endpointurl") or self.remote
            raise ServiceUnavailable(f"the DVC remote {self.remote}", where, f"DVC: {exc}") from exc

    def restore(self, md5: str, dest: str | Path) -> Path:
        """Bring the exact bytes with this md5 to `dest`, from the local cache or the remote."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._locked() as repo:
                cached = Path(repo.cache.local.path) / md5[:2] / md5[2:]  # .dvc/cache/files/md5/ab/cdef…
                if not cached.exists():
                    stub_dir = self.workspace / ".restore"
                    stub_dir.mkdir(exist_ok=True)
                    stub = stub_dir / f"{md5}.dvc"
                    stub.write_text(f"outs:\n- md5: {md5}\n  hash: md5\n  path: {md5}.bin\n")
                    try:
                        self._fetch(repo, stub)
                    finally:
                        stub.unlink(missing_ok=True)
                if not cached.exists():
                    raise AirloopError(f"md5 {md5} is neither in the DVC cache nor on remote {self.remote}")
                tmp = dest.with_name(f".tmp-{dest.name}")
                shutil.copyfile(cached, tmp)
                tmp.replace(dest)
                return dest
        except AirloopError:
            raise
        except Exception as exc:
            raise AirloopError(f"DVC could not restore md5 {md5}: {exc}") from exc
