"""Deployment settings: where data, models and dataset versions live.

Specs say *what* a pipeline is; settings say *where* this deployment keeps things. The edges (CLI, DAG factory)
build a `Settings` once from their environment and pass it down; library code never reads the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from airloop.uris import join_uri, to_uri


@dataclass(frozen=True)
class Settings:
    data_root: str  # file:///abs/dir or s3://bucket/prefix: landing, curated, quarantine, predictions, state
    tracking_uri: str  # MLflow tracking server (http://...) or a local store (sqlite:///...)
    dvc_workspace: str  # local directory holding the DVC project (`dvc init --no-scm`)
    dvc_remote: str  # DVC remote URL: a local directory or s3://bucket/prefix
    specs_dir: str  # directory of pipeline spec YAML files
    s3_endpoint_url: str | None = None
    landing_root: str | None = None  # where relative spec landing paths resolve; None: the data root
    mlflow_ui_url: str | None = None  # MLflow's UI as a browser reaches it (links from the Airflow UI); None: no UI
    # The secret that keys the hashes of personal data (spec `pii: hash`); never shown, never from the spec.
    pii_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str], base: str | Path = ".") -> Settings:
        """Build settings from AIRLOOP_* variables; defaults form the embedded (local, no Docker) deployment."""
        base = Path(base).resolve()
        run = base / ".run"
        tracking = env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{run / 'mlflow' / 'mlflow.db'}"
        # Inside compose the tracking server is http://mlflow:5000, which a browser cannot reach: say where it can.
        ui = env.get("AIRLOOP_MLFLOW_UI_URL") or (tracking if tracking.startswith(("http://", "https://")) else None)
        return cls(
            data_root=to_uri(env.get("AIRLOOP_DATA_ROOT") or str(run / "data")),
            tracking_uri=tracking,
            mlflow_ui_url=ui,
            dvc_workspace=env.get("AIRLOOP_DVC_WORKSPACE") or str(run / "dvc"),
            dvc_remote=env.get("AIRLOOP_DVC_REMOTE") or str(run / "dvc-remote"),
            specs_dir=env.get("AIRLOOP_SPECS_DIR") or str(base / "include" / "pipelines"),
            s3_endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            landing_root=to_uri(env["AIRLOOP_LANDING_ROOT"]) if env.get("AIRLOOP_LANDING_ROOT") else None,
            pii_key=env.get("AIRLOOP_PII_KEY") or None,
        )

    def location(self, where: str) -> str:
        """Resolve a spec's landing location: absolute URIs stay; relative paths hang off the landing root.

        Production keeps raw deliveries in their own bucket (written by upstream systems, read-only to airloop);
        without a landing root they sit under the data root.
        """
        if "://" in where:
            return where
        return join_uri(self.landing_root or self.data_root, where)

    def area(self, area: str, pipeline: str) -> str:
        """A pipeline's working area under the data root (curated, quarantine, predictions, state)."""
        return join_uri(self.data_root, area, pipeline)
