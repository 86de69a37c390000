"""Task metrics, one source: which metrics each label task has, which way each gets better, and how to compute them.

Every metric belongs to one label task and has one natural direction. A gate, a search or a decay check that read
a metric the wrong way round would promote worse models, so the direction is never left to a spec's author: it is
looked up here (`metric_direction`, `improvement`). The spec validates metric names against `Metric`, the registry
tags a version with `KEY_METRICS`, training scores a holdout with the computations below.

Core layer: imports nothing from airloop beyond core, and numpy, pandas and scikit-learn only inside the functions
that compute, so reading a spec (at DAG parse time) does not load them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Task = Literal["binary", "multiclass", "regression"]
Metric = Literal["pr_auc", "roc_auc", "log_loss", "mlogloss", "accuracy", "macro_f1", "rmse", "mae", "r2"]
Direction = Literal["maximize", "minimize"]
TASKS: tuple[str, ...] = get_args(Task)

METRICS: dict[str, tuple[Task, Direction]] = {
    "pr_auc": ("binary", "maximize"),
    "roc_auc": ("binary", "maximize"),
    "log_loss": ("binary", "minimize"),
    "mlogloss": ("multiclass", "minimize"),
    "accuracy": ("multiclass", "maximize"),
    "macro_f1": ("multiclass", "maximize"),
    "rmse": ("regression", "minimize"),
    "mae": ("regression", "minimize"),
    "r2": ("regression", "maximize"),
}
TASK_METRICS: dict[str, tuple[str, ...]] = {
    task: tuple(m for m, (t, _) in METRICS.items() if t == task) for task in TASKS
}
DEFAULT_METRIC: dict[str, str] = {"binary": "pr_auc", "multiclass": "mlogloss", "regression": "rmse"}
# Every task's holdout metrics: whichever a model version has become its `metric.<name>` tags.
KEY_METRICS: tuple[str, ...] = tuple(METRICS)


def metric_direction(metric: str) -> Direction:
    """`maximize` or `minimize`: the way a metric gets better."""
    return METRICS[metric][1]


def improvement(metric: str, new: float, old: float) -> float:
    """How much better `new` is than `old`, in the metric's own units (positive: better, whatever the direction)."""
    return new - old if metric_direction(metric) == "maximize" else old - new


def encode_labels(values: pd.Series | np.ndarray, classes: list[Any]) -> np.ndarray:
    """Class labels → indexes 0..k-1 in `classes` order; a label outside the list becomes -1.

    Labels are matched by their text, so 3 in a Parquet int column matches class 3 in the spec (or the JSON that
    stores the list on the model) whatever integer width either side uses. Training encodes its labels with this
    and `multiclass_metrics` scores with it, so a model is judged by the class order it was trained with.
    """
    import numpy as np
    import pandas as pd

    index = {str(c): i for i, c in enumerate(classes)}
    text = pd.Series(np.asarray(values, dtype=object)).astype(str)
    return text.map(index).fillna(-1).to_numpy(dtype=int)


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """PR-AUC (the metric that matters at a 1–3 % positive rate), ROC-AUC and log loss."""
    import numpy as np
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


def multiclass_metrics(y: np.ndarray, proba: np.ndarray, classes: list[Any]) -> dict[str, float]:
    """Multiclass log loss, accuracy and macro F1 (every class counts the same, however rare).

    A label outside the model's classes (a class that appeared after it was trained) counts as a wrong answer
    given probability ~0: the model is penalized for it, not crashed by it.
    """
    import numpy as np
    from sklearn.metrics import f1_score

    n = len(y)
    if n == 0:
        return {"mlogloss": float("nan"), "accuracy": float("nan"), "macro_f1": float("nan"), "n": 0.0}
    proba = np.asarray(proba, dtype=float).reshape(n, len(classes))
    idx = encode_labels(y, classes)
    p_true = np.where(idx >= 0, proba[np.arange(n), np.clip(idx, 0, None)], 0.0)
    pred = proba.argmax(axis=1)
    truth = [str(v) for v in y]
    guess = [str(classes[i]) for i in pred]
    return {
        "mlogloss": float(-np.mean(np.log(np.clip(p_true, 1e-7, 1.0)))),
        "accuracy": float(np.mean(idx == pred)),
        "macro_f1": float(f1_score(truth, guess, average="macro", zero_division=0)),
        "n": float(n),
    }


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE (both in the label's units) and R² (undefined below two rows or for a constant label)."""
    import numpy as np

    y = np.asarray(y, dtype=float)
    pred = np.asarray(pred, dtype=float)
    n = len(y)
    if n == 0:
        return {"rmse": float("nan"), "mae": float("nan"), "r2": float("nan"), "n": 0.0}
    err = pred - y
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": float(1.0 - np.sum(err**2) / ss_tot) if n > 1 and ss_tot > 0 else float("nan"),
        "n": float(n),
    }


def task_metrics(task: str, y: np.ndarray, out: np.ndarray, classes: list[Any] | None = None) -> dict[str, float]:
    """The metrics of `task` for labels `y` and a model's raw output `out` (P(class 1), a class-probability
    matrix whose columns follow `classes` — by default 0..k-1 —, or predicted values)."""
    if task == "multiclass":
        return multiclass_metrics(y, out, classes if classes is not None else list(range(out.shape[1])))
    if task == "regression":
        return regression_metrics(y, out)
    return classification_metrics(y, out)
