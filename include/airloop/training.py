"""Training: assemble the training set, split it by time, fit XGBoost (GPU when present), evaluate.

Uses `xgboost.train` on a `QuantileDMatrix` (the `hist` method's native input) rather than the sklearn wrapper:
fewer copies, and the framework's overhead over a bare `xgboost.train` stays small (see `bench/`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from airloop.errors import AirloopError

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

    from airloop.ingest import BatchRecord
    from airloop.spec import ModelSpec, PipelineSpec
    from airloop.versioning import DataVersioner

log = logging.getLogger(__name__)


def cuda_available() -> bool:
    """True when this xgboost build has CUDA and the NVIDIA driver reports at least one GPU."""
    try:
        import xgboost as xgb

        if not xgb.build_info().get("USE_CUDA"):
            return False
    except Exception:  # a broken install must not stop CPU training
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    if gpus.is_dir() and any(gpus.iterdir()):
        return True
    # Sandboxed kernels (gVisor) may not expose /proc/driver/nvidia; the device nodes are still there.
    return any(p.name[len("nvidia") :].isdigit() for p in Path("/dev").glob("nvidia[0-9]*"))


def choose_device(requested: str) -> str:
    """`auto` → `cuda` when a GPU is usable, else `cpu`; `cuda` without a GPU falls back to `cpu`, loudly."""
    if requested == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if requested == "cuda":
        log.warning("spec asks for device cuda but no usable GPU is visible: training on cpu")
    return "cpu"


@dataclass
class TrainingSet:
    """A concrete, versioned training set: the exact rows a model was fit on."""

    path: Path
    md5: str
    batches: list[str]
    n_rows: int


@dataclass
class Split:
    train: pd.DataFrame
    valid: pd.DataFrame
    holdout: pd.DataFrame


@dataclass
class FitResult:
    booster: xgb.Booster
    device: str
    best_iteration: int
    metrics: dict[str, float]  # holdout metrics (the gate's basis) plus valid_* and train timings
    params: dict[str, Any]
    feature_names: list[str]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def training_window(spec: PipelineSpec, records: list[BatchRecord]) -> list[BatchRecord]:
    """The newest labelled curated batches, at most `training.window_batches` of them, oldest first."""
    labelled = [r for r in records if r.status == "curated" and r.has_labels and r.md5]
    return labelled[-spec.training.window_batches :]


def assemble_training_set(spec: PipelineSpec, records: list[BatchRecord], versioner: DataVersioner) -> TrainingSet:
    """Concatenate the newest labelled batches (the spec's window) and version the result with DVC."""
    import pandas as pd

    from airloop.ingest import read_curated

    window = training_window(spec, records)
    if not window:
        raise AirloopError(f"{spec.name}: no labelled curated batch to train on yet")
    frames = [read_curated(rec, versioner) for rec in window]
    df = pd.concat(frames, ignore_index=True).sort_values(
        [spec.schema_.time_column, spec.schema_.id_column], kind="stable", ignore_index=True
    )
    if len(df) < spec.training.min_rows:
        raise AirloopError(
            f"{spec.name}: {len(df)} labelled rows, fewer than training.min_rows ({spec.training.min_rows})"
        )
    batches = [r.batch_id for r in window]
    rel = f"datasets/{spec.name}/train-{int(time.time() * 1000)}.parquet"
    path = versioner.path(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    tracked = versioner.track(rel)
    return TrainingSet(path, tracked.md5, batches, len(df))


def time_split(df: pd.DataFrame, spec: PipelineSpec) -> Split:
    """Oldest rows train, the next slice validates (early stopping), the newest slice is the holdout.

    Deterministic for a given frame, so a gate can rebuild exactly the holdout a challenger was scored on.
    """
    df = df.sort_values([spec.schema_.time_column, spec.schema_.id_column], kind="stable", ignore_index=True)
    n = len(df)
    n_hold = max(1, int(round(n * spec.split.holdout_fraction)))
    n_valid = max(1, int(round(n * spec.split.valid_fraction)))
    if n - n_hold - n_valid < 1:
        raise AirloopError(f"{spec.name}: {n} rows are too few to split into train/valid/holdout")
    a, b = n - n_hold - n_valid, n - n_hold
    return Split(df.iloc[:a], df.iloc[a:b], df.iloc[b:])


def xgb_params(model: ModelSpec, device: str) -> dict[str, Any]:
    params = {
        "objective": "binary:logistic",
        "eval_metric": ["logloss", "aucpr"],
        "tree_method": "hist",
        "seed": model.seed,
        **model.params,
        "device": device,
    }
    if model.nthread:
        params["nthread"] = model.nthread
    return params


def fit(split: Split, spec: PipelineSpec, feature_names: list[str]) -> FitResult:
    """Train with early stopping on the validation slice; report holdout metrics."""
    import xgboost as xgb

    device = choose_device(spec.model.device)
    label = spec.label.column
    params = xgb_params(spec.model, device)
    log.info("training %s on device=%s (requested %s)", spec.name, device, spec.model.device)
    t0 = time.perf_counter()
    dtrain = xgb.QuantileDMatrix(split.train[feature_names], label=split.train[label], feature_names=feature_names)
    dvalid = xgb.DMatrix(split.valid[feature_names], label=split.valid[label], feature_names=feature_names)
    history: dict[str, dict[str, list[float]]] = {}
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=spec.model.num_boost_round,
        evals=[(dvalid, "valid")],
        evals_result=history,
        early_stopping_rounds=spec.model.early_stopping_rounds,
        verbose_eval=False,
    )
    seconds = time.perf_counter() - t0
    best = int(getattr(booster, "best_iteration", spec.model.num_boost_round - 1))
    metrics = evaluate(booster, split.holdout, feature_names, label)
    # Validation scores at the best round come from training's own evaluation: no second pass over the data.
    names = {"logloss": "valid_log_loss", "aucpr": "valid_pr_auc"}
    metrics.update({names[k]: float(v[best]) for k, v in history.get("valid", {}).items() if k in names})
    metrics["train_seconds"] = seconds
    return FitResult(
        booster,
        device,
        best,
        metrics,
        params,
        feature_names,
        seconds,
        {"n_train": len(split.train), "n_valid": len(split.valid), "n_holdout": len(split.holdout)},
    )


def predict_proba(booster: xgb.Booster, df: pd.DataFrame, feature_names: list[str]) -> np.ndarray:
    import xgboost as xgb

    best = getattr(booster, "best_iteration", None)
    rng = (0, best + 1) if best is not None else (0, 0)
    return booster.predict(xgb.DMatrix(df[feature_names], feature_names=feature_names), iteration_range=rng)


def evaluate(booster: xgb.Booster, df: pd.DataFrame, feature_names: list[str], label: str) -> dict[str, float]:
    return classification_metrics(df[label].to_numpy(), predict_proba(booster, df, feature_names))


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """PR-AUC (the metric that matters at a 1–3 % positive rate), ROC-AUC and log loss."""
    from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

    y = np.asarray(y, dtype=int)
    single_class = len(np.unique(y)) < 2
    return {
        "pr_auc": float("nan") if single_class else float(average_precision_score(y, p)),
        "roc_auc": float("nan") if single_class else float(roc_auc_score(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
        "n": float(len(y)),
    }


def importance_png(booster: xgb.Booster, path: Path, top: int = 20) -> Path:
    """Bar chart of total gain per feature (a why-did-it-learn-that artifact next to the model)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gain = booster.get_score(importance_type="total_gain")
    items = sorted(gain.items(), key=lambda kv: kv[1])[-top:]
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.3 * len(items) + 1)))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#3b7dd8")
    ax.set_xlabel("total gain")
    ax.set_title("Feature importance")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
