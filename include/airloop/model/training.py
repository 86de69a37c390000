"""Training: assemble the training set, split it (by time, or at random), fit XGBoost (GPU when present), evaluate.

Uses `xgboost.train` on a `QuantileDMatrix` (the `hist` method's native input) rather than the sklearn wrapper:
fewer copies, and the framework's overhead over a bare `xgboost.train` stays small (see `bench/`).

One code path serves every label task (binary, multiclass, regression): the task picks the objective, the
early-stopping metric and the holdout metrics. A booster carries its task and (multiclass) class list as
attributes, saved inside the model file, so whoever loads it later scores and evaluates it the way it was trained
without needing the spec that trained it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from airloop.errors import AirloopError
from airloop.metrics import encode_labels, task_metrics

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

    from airloop.data.ingest import BatchRecord
    from airloop.spec import ModelSpec, PipelineSpec
    from airloop.store.versioning import DataVersioner

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

    from airloop.data.ingest import read_curated

    window = training_window(spec, records)
    if not window:
        raise AirloopError(f"{spec.name}: no labelled curated batch to train on yet")
    frames = [read_curated(rec, versioner) for rec in window]
    df = pd.concat(frames, ignore_index=True).sort_values(_order(spec), kind="stable", ignore_index=True)
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


def _order(spec: PipelineSpec) -> list[str]:
    """Row order of a training set: by time then id, or by id alone when the data has no time column."""
    schema = spec.schema_
    return [schema.time_column, schema.id_column] if schema.time_column else [schema.id_column]


def _sizes(n: int, spec: PipelineSpec) -> tuple[int, int]:
    n_hold = max(1, int(round(n * spec.split.holdout_fraction)))
    n_valid = max(1, int(round(n * spec.split.valid_fraction)))
    if n - n_hold - n_valid < 1:
        raise AirloopError(f"{spec.name}: {n} rows are too few to split into train/valid/holdout")
    return n_valid, n_hold


def split_frame(df: pd.DataFrame, spec: PipelineSpec) -> Split:
    """The spec's split: by time when the schema has a time column, else at random (seeded by `model.seed`)."""
    return time_split(df, spec) if spec.schema_.time_column else random_split(df, spec)


def time_split(df: pd.DataFrame, spec: PipelineSpec) -> Split:
    """Oldest rows train, the next slice validates (early stopping), the newest slice is the holdout.

    Deterministic for a given frame, so a gate can rebuild exactly the holdout a challenger was scored on.
    """
    if not spec.schema_.time_column:
        raise AirloopError(f"{spec.name}: no schema.time_column to split by time (split_frame splits at random)")
    df = df.sort_values(_order(spec), kind="stable", ignore_index=True)
    n_valid, n_hold = _sizes(len(df), spec)
    a, b = len(df) - n_hold - n_valid, len(df) - n_hold
    return Split(df.iloc[:a], df.iloc[a:b], df.iloc[b:])


def random_split(df: pd.DataFrame, spec: PipelineSpec) -> Split:
    """A seeded random split for data without a time column; the same fractions as the time split.

    Rows are ranked by a keyed hash of their id (key from `model.seed`), not by a permutation of positions: the
    split depends only on which rows there are, never on their order, so a gate rebuilds the exact holdout. And
    a row keeps roughly the same hash rank as the training window grows, so a row held out from one version tends
    to be held out from the next: the champion is rarely judged on rows it was trained on.
    """
    import pandas as pd

    n_valid, n_hold = _sizes(len(df), spec)
    ids = df[spec.schema_.id_column]
    key = hashlib.sha256(f"airloop-split-{spec.model.seed}".encode()).hexdigest()[:16]
    rank = pd.DataFrame(
        {"h": pd.util.hash_pandas_object(ids.astype(str), index=False, hash_key=key).to_numpy(), "id": ids.to_numpy()}
    ).sort_values(["h", "id"], kind="stable")
    order = rank.index.to_numpy()
    parts = order[:n_hold], order[n_hold : n_hold + n_valid], order[n_hold + n_valid :]
    hold, valid, train = (
        df.iloc[np.sort(p)].sort_values(spec.schema_.id_column, kind="stable", ignore_index=True) for p in parts
    )
    return Split(train, valid, hold)


# XGBoost's name for each task's early-stopping metric, and the airloop metric it is reported as (valid_<name>).
_OBJECTIVES = {"binary": "binary:logistic", "multiclass": "multi:softprob", "regression": "reg:squarederror"}
_EVAL_METRICS = {"binary": ["logloss", "aucpr"], "multiclass": ["mlogloss"], "regression": ["rmse"]}
_VALID_NAMES = {
    "logloss": "valid_log_loss",
    "aucpr": "valid_pr_auc",
    "mlogloss": "valid_mlogloss",
    "rmse": "valid_rmse",
}


def xgb_params(
    model: ModelSpec,
    device: str,
    task: str = "binary",
    num_class: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Booster parameters for a task: its objective and eval metric, overridable by the spec's `model.params`,
    which a search trial's `overrides` override in turn.

    XGBoost stops early on the last eval metric; binary keeps aucpr last, as before tasks existed. `num_class`
    comes from the data's classes and always wins: a spec cannot make it disagree with the label encoding.
    """
    params = {
        "objective": _OBJECTIVES[task],
        "eval_metric": list(_EVAL_METRICS[task]),
        "tree_method": "hist",
        "seed": model.seed,
        **model.params,
        **(overrides or {}),
        "device": device,
    }
    if task == "multiclass":
        params["num_class"] = num_class
    # Always a number, recorded with the model: XGBoost's CPU training is bit-for-bit repeatable for a given seed
    # and thread count, and "all cores" names a different count on another machine (see `airloop reproduce`).
    params["nthread"] = model.nthread or usable_cores()
    return params


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and cgroups narrow)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_classes(spec: PipelineSpec, labels: pd.Series) -> list[Any]:
    """A multiclass model's class list: the spec's `label.classes`, else the label's category domain, else the
    sorted distinct labels seen in the training set."""
    if spec.label.classes is not None:
        return list(spec.label.classes)
    col = spec.schema_.columns[spec.label.column]
    if col.dtype == "category" and col.domain:
        return list(col.domain)
    return sorted(labels.dropna().unique().tolist())


def booster_task(booster: xgb.Booster) -> str | None:
    """The task a booster was trained for (None for a model trained before tasks existed: binary)."""
    return booster.attr("airloop_task")


def booster_classes(booster: xgb.Booster) -> list[Any] | None:
    """A multiclass booster's class list, in index order; None for other tasks."""
    raw = booster.attr("airloop_classes")
    return json.loads(raw) if raw else None


def _training_labels(split: Split, spec: PipelineSpec, classes: list[Any] | None) -> tuple[Any, Any]:
    """The label arrays XGBoost trains on: class indexes for multiclass, the column as floats otherwise.

    Floats, not the column as it is: a nullable Int64 or boolean label is an extension array XGBoost may refuse.
    """
    label = spec.label.column
    if classes is None:
        return (split.train[label].to_numpy(dtype=float), split.valid[label].to_numpy(dtype=float))
    encoded = encode_labels(split.train[label], classes), encode_labels(split.valid[label], classes)
    unknown = sorted(
        {str(v) for part, y in zip((split.train, split.valid), encoded, strict=True) for v in part[label][y < 0]}
    )
    if unknown:
        raise AirloopError(f"{spec.name}: labels {unknown[:5]} are not among the classes {classes}")
    return encoded


def fit(
    split: Split,
    spec: PipelineSpec,
    feature_names: list[str],
    overrides: dict[str, Any] | None = None,
    *,
    score_holdout: bool = True,
) -> FitResult:
    """Train with early stopping on the validation slice; report holdout metrics.

    `overrides` are a search trial's parameters. A trial is fit with `score_holdout=False`: it is ranked on the
    validation slice alone, and only the winner is ever scored on the holdout (by the gate's rules), so choosing
    among many trials cannot overfit the holdout the gate relies on.
    """
    import pandas as pd
    import xgboost as xgb

    device = choose_device(spec.model.device)
    task, label = spec.label.task, spec.label.column
    classes = None
    if task == "multiclass":
        classes = resolve_classes(spec, pd.concat([split.train[label], split.valid[label], split.holdout[label]]))
        if len(classes) < 2:
            raise AirloopError(f"{spec.name}: the training set holds {len(classes)} class(es); multiclass needs 2")
    params = xgb_params(spec.model, device, task, len(classes) if classes else None, overrides)
    log.info("training %s (%s) on device=%s (requested %s)", spec.name, task, device, spec.model.device)
    t0 = time.perf_counter()
    y_train, y_valid = _training_labels(split, spec, classes)
    dtrain = xgb.QuantileDMatrix(split.train[feature_names], label=y_train, feature_names=feature_names)
    dvalid = xgb.DMatrix(split.valid[feature_names], label=y_valid, feature_names=feature_names)
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
    # Saved inside the model file (JSON attributes), so a loaded booster knows how to score and be scored.
    booster.set_attr(airloop_task=task, airloop_classes=json.dumps(classes) if classes is not None else None)
    metrics = evaluate(booster, split.holdout, feature_names, label, task) if score_holdout else {}
    # Validation scores at the best round come from training's own evaluation: no second pass over the data.
    valid = history.get("valid", {})
    metrics.update({_VALID_NAMES[k]: float(v[best]) for k, v in valid.items() if k in _VALID_NAMES})
    metrics["train_seconds"] = seconds
    return FitResult(
        booster,
        device,
        best,
        metrics,
        params,
        feature_names,
        seconds,
        {"n_train": len(split.train), "n_valid": len(split.valid), "n_holdout": len(split.holdout)}
        | ({"classes": json.dumps(classes)} if classes is not None else {}),
    )


def predict(booster: xgb.Booster, df: pd.DataFrame, feature_names: list[str]) -> np.ndarray:
    """The booster's raw output at its best round: P(class 1) for binary, an (n, k) matrix of class
    probabilities for multiclass, the predicted value for regression."""
    import xgboost as xgb

    best = getattr(booster, "best_iteration", None)
    rng = (0, best + 1) if best is not None else (0, 0)
    return booster.predict(xgb.DMatrix(df[feature_names], feature_names=feature_names), iteration_range=rng)


def evaluate(
    booster: xgb.Booster, df: pd.DataFrame, feature_names: list[str], label: str, task: str | None = None
) -> dict[str, float]:
    """The task's metrics of `booster` on a labelled frame (computed by `airloop.metrics`).

    The task the booster was trained for wins over `task`: a model is judged by what it predicts. `task` serves
    boosters saved without one (binary, from before tasks existed).
    """
    task = booster_task(booster) or task or "binary"
    out = predict(booster, df, feature_names)
    return task_metrics(task, df[label].to_numpy(), out, booster_classes(booster))


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
